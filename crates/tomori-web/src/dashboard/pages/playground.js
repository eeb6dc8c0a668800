// The playground without reloads: messages are sent with fetch, answers arrive as Server-Sent
// Events. Text is only ever inserted as text (textContent), never as markup. Without this
// script the form posts and the page shows the conversation on reload.
"use strict";
(function () {
  const form = document.getElementById("say");
  const log = document.getElementById("transcript");
  if (!form || !log) return;
  const main = log.dataset.main || "Tomori";
  function add(line) {
    const p = document.createElement("p");
    p.className = line.mine ? "line mine" : "line";
    const who = document.createElement("strong");
    who.textContent = (line.mine ? "You" : (line.who || main)) + ": ";
    p.append(who, document.createTextNode(line.text));
    log.append(p);
    p.scrollIntoView({ block: "end" });
  }
  const events = new EventSource(log.dataset.events);
  events.addEventListener("line", function (event) { add(JSON.parse(event.data)); });
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const body = new FormData(form);
    const answer = await fetch(form.action, {
      method: "POST",
      body: body,
      headers: { "X-Tomori-Fetch": "1" },
      credentials: "same-origin",
    });
    if (!answer.ok) { location.reload(); return; }
    form.elements.csrf.value = await answer.text();
    form.elements.text.value = "";
    if (form.elements.file) form.elements.file.value = "";
  });
})();
