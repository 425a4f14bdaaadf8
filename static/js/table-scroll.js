// Tables (and other boxes) that scroll sideways say so: on a phone the learners table shows two of
// its six columns, and nothing told people the rest was there. Each box that is wider inside than
// out gets a short note above it, a faded edge on the side where more hides (portal.css: .scrolls,
// .more-left, .more-right), and keyboard access: tabindex=0 with a region role and a name, so it
// scrolls with the arrow keys. Without this script the boxes still scroll; only the hints are
// missing. Re-checked on resize (a phone turned sideways may fit the whole table).
(function () {
  "use strict";
  var NOTE = "Scroll sideways for more \u2192";

  function name(box) {
    var caption = box.querySelector("caption");
    if (caption && caption.textContent.trim()) return caption.textContent.trim();
    var label = box.getAttribute("data-scroll-label");
    if (label) return label;
    var heading = null;
    for (var el = box; el && !heading; el = el.parentElement) {
      for (var prev = el.previousElementSibling; prev && !heading; prev = prev.previousElementSibling) {
        if (/^H[1-6]$/.test(prev.tagName)) heading = prev;
      }
    }
    return heading ? heading.textContent.trim() : "Table";
  }

  function noteFor(box) {
    var note = box.previousElementSibling;
    if (note && note.classList.contains("scroll-note")) return note;
    note = document.createElement("p");
    note.className = "scroll-note";
    note.setAttribute("aria-hidden", "true");  // the region's own name says it scrolls
    note.textContent = NOTE;
    box.parentNode.insertBefore(note, box);
    return note;
  }

  function update(box) {
    var hidden = box.scrollWidth - box.clientWidth;
    var scrolls = hidden > 1 && scrollsSideways(box);  // a table scrolls itself on phones only
    box.classList.toggle("scrolls", scrolls);
    box.classList.toggle("more-left", scrolls && box.scrollLeft > 1);
    box.classList.toggle("more-right", scrolls && box.scrollLeft < hidden - 1);
    if (scrolls) {
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", name(box) + " (scrolls sideways)");
      noteFor(box).hidden = false;
    } else if (box.classList.contains("scroll-hinted")) {
      box.removeAttribute("tabindex");
      box.removeAttribute("role");
      box.removeAttribute("aria-label");
      noteFor(box).hidden = true;
    }
    if (scrolls) box.classList.add("scroll-hinted");
  }

  function scrollsSideways(el) {
    var overflow = window.getComputedStyle(el).overflowX;
    return overflow === "auto" || overflow === "scroll";
  }

  var boxes = Array.prototype.slice.call(document.querySelectorAll(".table-scroll, table.table"));
  boxes.forEach(function (box) {
    update(box);
    box.addEventListener("scroll", function () { update(box); }, { passive: true });
  });
  var pending = 0;
  window.addEventListener("resize", function () {
    window.cancelAnimationFrame(pending);
    pending = window.requestAnimationFrame(function () { boxes.forEach(update); });
  });
})();
