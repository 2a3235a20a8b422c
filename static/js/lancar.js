// Small helpers for every page; each page works without them.
(function () {
  "use strict";

  // After a failed save: move focus to the first field in error (the summary at the top of
  // the page lists every error with a link to its field).
  var invalid = document.querySelector("#main .is-invalid");
  if (invalid) {
    invalid.focus();
  } else {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }

  // Switching language mid-form keeps what was typed: the values wait in this tab's session
  // storage while the page reloads in the other language, then fill the form again (not saved).
  var languageForm = document.getElementById("language-form");
  var entryForm = document.querySelector("#main form[method=post]");
  var storageKey = "lancar-kept:" + window.location.pathname;
  var storage;
  try { storage = window.sessionStorage; } catch (error) { storage = null; }
  if (!languageForm || !entryForm || !storage) { return; }

  languageForm.addEventListener("submit", function () {
    var values = [];
    new FormData(entryForm).forEach(function (value, name) {
      if (name !== "csrfmiddlewaretoken" && typeof value === "string") { values.push([name, value]); }
    });
    storage.setItem(storageKey, JSON.stringify(values));
  });

  var kept = storage.getItem(storageKey);
  if (!kept) { return; }
  storage.removeItem(storageKey);
  var values;
  try { values = JSON.parse(kept); } catch (error) { return; }
  // Checkboxes not in the kept values were not ticked.
  entryForm.querySelectorAll("input[type=checkbox]").forEach(function (box) { box.checked = false; });
  values.forEach(function (pair) {
    var fields = entryForm.elements.namedItem(pair[0]);
    if (!fields) { return; }
    var list = fields.length !== undefined && !fields.tagName ? Array.prototype.slice.call(fields) : [fields];
    list.forEach(function (field) {
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = field.value === pair[1] || (field.type === "checkbox" && pair[1] === "on");
      } else {
        field.value = pair[1];
      }
    });
  });
  var note = document.createElement("div");
  note.className = "alert alert-info";
  note.setAttribute("role", "status");
  note.id = "kept-note";
  note.textContent = languageForm.dataset.keptMessage;
  entryForm.insertAdjacentElement("beforebegin", note);
})();
