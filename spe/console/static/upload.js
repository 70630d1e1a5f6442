// A progress bar for a file upload form (data-upload). Without this module the form posts
// as usual; with it the same request is sent with XMLHttpRequest to report progress, and
// the answer (the dataset's page, or the refusal column by column) replaces the page.
for (const form of document.querySelectorAll("form[data-upload]")) {
  const bar = form.querySelector("progress");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "text/html");
    bar.hidden = false;
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    });
    request.addEventListener("load", () => {
      if (request.status < 400) {
        window.location.assign(request.responseURL);
      } else {
        const page = new DOMParser().parseFromString(request.responseText, "text/html");
        document.querySelector("main").replaceWith(document.adoptNode(page.querySelector("main")));
      }
    });
    request.send(new FormData(form));
  });
}
