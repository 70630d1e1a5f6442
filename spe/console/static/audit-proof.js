// Checks, in the browser, that the audit event on this page is in the signed log: fetches
// the inclusion proof and the log's public key from the API and verifies them with
// merkle.js (WebCrypto), never trusting the page's own claims. Any failure is shown.
import { verifyInclusion } from "./merkle.js";

const section = document.getElementById("proof");
const status = document.getElementById("proof-status");

async function get(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

async function check() {
  const seq = Number(section.dataset.seq);
  const [proof, key] = await Promise.all([get(`/api/v1/audit/events/${seq}/proof`), get("/api/v1/audit/public-key")]);
  return verifyInclusion(proof, key, { seq, ts: section.dataset.ts });
}

if (status) {
  check().then(({ size, key }) => {
    status.dataset.state = "verified";
    status.textContent = status.dataset.ok.replace("{size}", size).replace("{key}", key);
  }, (error) => {
    status.dataset.state = "failed";
    status.textContent = `${status.dataset.fail} ${error.message}`;
  });
}
