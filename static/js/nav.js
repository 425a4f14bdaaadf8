// The header's Menu button on a narrow screen (portal.css shows it below 760 px). Progressive
// enhancement: without this script the button stays hidden and the menu's links stay shown.
// A real <button> with aria-expanded and aria-controls: Enter and Space open and close it, Escape
// closes it and gives the focus back to the button.
(function () {
  "use strict";
  var header = document.querySelector("[data-nav]");
  var button = header && header.querySelector(".nav-toggle");
  var menu = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!menu) return;

  function isOpen() {
    return button.getAttribute("aria-expanded") === "true";
  }

  function setOpen(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    menu.classList.toggle("is-open", open);
  }

  header.classList.add("js-nav");
  button.addEventListener("click", function () {
    setOpen(!isOpen());
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen()) {
      setOpen(false);
      button.focus();
    }
  });
})();
