// Tally helper for the observation sheet: big +1 / −1 buttons beside each count while the page
// is open. The plain number inputs keep working without this script.
(function () {
  "use strict";
  var labels = document.getElementById("tally-labels");
  if (!labels) { return; }
  // One polite live region tells a screen reader the new count after each tap ("Feeds: 5");
  // the buttons themselves do not move focus, so nothing else would announce the change.
  var live = document.createElement("div");
  live.className = "visually-hidden";
  live.id = "tally-status";
  live.setAttribute("role", "status");
  live.setAttribute("aria-live", "polite");
  document.body.appendChild(live);
  document.querySelectorAll("input[data-tally]").forEach(function (input) {
    var group = document.createElement("div");
    group.className = "d-flex gap-2 mt-2 tally";
    function button(text, step, style) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "btn btn-lg flex-fill " + style;
      b.textContent = text;
      var name = input.labels[0] ? input.labels[0].textContent.trim() : "";
      b.setAttribute("aria-label", name + " " + text);
      b.addEventListener("click", function () {
        var value = parseInt(input.value || "0", 10);
        if (isNaN(value)) { value = 0; }
        var max = parseInt(input.max || "40", 10);
        value = Math.min(max, Math.max(0, value + step));
        input.value = String(value);
        input.dispatchEvent(new Event("change", { bubbles: true }));
        live.textContent = name + ": " + value;
      });
      return b;
    }
    group.appendChild(button(labels.dataset.remove, -1, "btn-outline-secondary"));
    group.appendChild(button(labels.dataset.add, 1, "btn-success"));
    input.insertAdjacentElement("afterend", group);
  });
})();
