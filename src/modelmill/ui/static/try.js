// Sends the chosen file as the request body with its content type, as a client of `make serve` does.
const TYPES = {csv: "text/csv", npy: "application/x-npy", png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", json: "application/json"};
const form = document.getElementById("upload");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = document.getElementById("file").files[0];
  const out = document.getElementById("upload-answer");
  if (!file) { out.textContent = "choose a file first"; return; }
  const type = TYPES[file.name.split(".").pop().toLowerCase()] || file.type || "application/octet-stream";
  const response = await fetch(form.dataset.url, {method: "POST", headers: {"Content-Type": type}, body: file});
  out.textContent = JSON.stringify(await response.json(), null, 2);
});
