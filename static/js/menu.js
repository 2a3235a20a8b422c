// The navbar menu on a phone closes on Escape, and focus goes back to the button that opened
// it (WAI-ARIA disclosure pattern). Bootstrap's collapse does not handle the key itself.
(function () {
  "use strict";
  var menu = document.getElementById("nav-menu");
  if (!menu || !window.bootstrap) { return; }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !menu.classList.contains("show")) { return; }
    window.bootstrap.Collapse.getOrCreateInstance(menu, { toggle: false }).hide();
    var toggler = document.querySelector('[data-bs-target="#nav-menu"]');
    if (toggler) { toggler.focus(); }
  });
})();
