// Library page: select images on the page, or every image matching the filters, for a bulk
// action (delete, re-tag, clear tags, push again).
(function () {
  "use strict";
  // Phones: the filters and the bulk actions start folded (the page opens them without script).
  var narrow = window.matchMedia("(max-width: 600px)");
  function fold() {
    document.querySelectorAll("details[data-fold-narrow]").forEach(function (d) {
      d.open = !narrow.matches || d.hasAttribute("data-keep-open");
    });
  }
  fold();
  narrow.addEventListener("change", fold);
  var form = document.querySelector("form[data-bulk]");
  if (!form) return;
  var all = form.querySelector("[data-select-all]");
  var count = form.querySelector("[data-selected-count]");
  var buttons = form.querySelectorAll("[data-needs-selection]");
  var offer = form.querySelector("[data-matching-offer]");
  var matching = form.querySelector("[data-select-matching]");
  var pageAll = form.querySelector("[data-page-all]");
  var texts = Tuku.text("library-text");
  var bulkFold = form.querySelector("[data-bulk-fold]");
  function picks() { return form.querySelectorAll("input.pick"); }
  function update() {
    var n = form.querySelectorAll("input.pick:checked").length;
    var whole = n > 0 && n === picks().length;
    // "Select all N matching" is offered once the whole page is selected, as in a mail client.
    if (matching && !whole) matching.checked = false;
    if (offer) offer.hidden = !whole;
    if (pageAll) pageAll.hidden = !whole || (matching && matching.checked);
    var everything = matching && matching.checked;
    buttons.forEach(function (b) { b.disabled = n === 0 && !everything; });
    if (count) {
      if (everything) count.textContent = texts.all_matching || "All matching images selected";
      else count.textContent = n ? (texts.selected || "%n selected").replace("%n", n) : "";
    }
    if (all) {
      all.checked = whole;
      all.indeterminate = n > 0 && n < picks().length;
    }
  }
  if (all) all.addEventListener("change", function () {
    picks().forEach(function (p) { p.checked = all.checked; });
    update();
  });
  form.addEventListener("change", function (event) {
    var t = event.target;
    if (t === matching || (t.classList && t.classList.contains("pick"))) update();
    // Ticking an image on a phone opens the folded actions it is for.
    if (t.classList && t.classList.contains("pick") && t.checked && bulkFold) bulkFold.open = true;
  });
  update();
})();
