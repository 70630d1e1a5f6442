// Keyboard navigation on a checker's request page: n / p move between flagged cells,
// j / k between files. Without this module every cell and file is still reachable.
const FLAGGED = "td[data-flag]";
const FILES = "section[data-file]";

function typing(target) {
  return target.closest("input, textarea, select, [contenteditable]") !== null;
}

function step(selector, forward) {
  const items = Array.from(document.querySelectorAll(selector));
  if (items.length === 0) return;
  const current = items.indexOf(document.activeElement);
  const next = current === -1 ? (forward ? 0 : items.length - 1)
    : (current + (forward ? 1 : -1) + items.length) % items.length;
  const item = items[next];
  if (!item.hasAttribute("tabindex")) item.setAttribute("tabindex", "-1");
  item.focus();
  item.scrollIntoView({ block: "center" });
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  const moves = { n: [FLAGGED, true], p: [FLAGGED, false], j: [FILES, true], k: [FILES, false] };
  const move = moves[event.key];
  if (!move) return;
  event.preventDefault();
  step(...move);
});
