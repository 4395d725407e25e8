// The broadcast add form in Django admin: shows only the audience fields the
// chosen segment uses, keeps "Audience: N people" up to date as the segment
// changes (GET …/broadcast/audience/, the selector of the API's preview), and
// sends the message to the logged-in admin alone with "Send a test to me".
"use strict";
window.addEventListener("load", function () {
  const size = document.getElementById("audience-size");
  const form = document.getElementById("broadcast_form");
  if (!size || !form) return;
  const $ = window.django && window.django.jQuery;
  const segment = form.querySelector("#id_segment");
  const names = ["conference", "event", "quest", "session"];
  const uses = { event_going: "event", quest_completed: "quest", session_bookmarked: "session" };

  function showRows() {
    ["event", "quest", "session"].forEach(function (name) {
      const row = form.querySelector(".field-" + name);
      if (row) row.hidden = uses[segment.value] !== name;
    });
  }

  let pending = null;
  function refresh() {
    const params = new URLSearchParams({ segment: segment.value });
    names.forEach(function (name) {
      const input = form.querySelector("#id_" + name);
      const row = form.querySelector(".field-" + name);
      if (input && input.value && !(row && row.hidden)) params.set(name, input.value);
    });
    if (pending) pending.abort();
    pending = new AbortController();
    size.textContent = "Audience: counting…";
    fetch(size.dataset.url + "?" + params, { credentials: "same-origin", signal: pending.signal })
      .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
      .then(function ([ok, body]) {
        size.classList.toggle("errornote", !ok);
        size.textContent = ok
          ? "Audience: " + body.total + (body.total === 1 ? " person" : " people") + " right now"
          : "Audience: " + body.error;
      })
      .catch(function (error) { if (error.name !== "AbortError") size.textContent = "Audience: could not count (" + error + ")"; });
  }

  segment.addEventListener("change", function () { showRows(); refresh(); });
  // The searchable lists are select2 widgets: they announce changes through jQuery only.
  names.forEach(function (name) {
    if ($) $(form).on("change", "#id_" + name, refresh);
  });
  showRows();
  refresh();

  const button = document.getElementById("send-test");
  const result = document.getElementById("send-test-result");
  button.addEventListener("click", function () {
    const data = new FormData();
    data.set("title", form.querySelector("#id_title").value);
    data.set("body", form.querySelector("#id_body").value);
    button.disabled = true;
    result.textContent = "Sending…";
    fetch(button.dataset.url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
    })
      .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
      .then(function ([ok, body]) {
        result.textContent = ok
          ? "Sent to you in-app" + (body.telegram ? " and on Telegram." : " (not on Telegram: you have not started the bot, or turned its notifications off).")
          : "Not sent: " + body.error;
      })
      .catch(function (error) { result.textContent = "Not sent: " + error; })
      .finally(function () { button.disabled = false; });
  });
});
