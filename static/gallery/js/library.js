// Library page: select images on the page for bulk delete or re-tag.
(function () {
  "use strict";
  var form = document.querySelector("form[data-bulk]");
  if (!form) return;
  var all = form.querySelector("[data-select-all]");
  var count = form.querySelector("[data-selected-count]");
  var buttons = form.querySelectorAll("[data-needs-selection]");
  var texts = Tuku.text("library-text");
  function picks() { return form.querySelectorAll("input.pick"); }
  function update() {
    var n = form.querySelectorAll("input.pick:checked").length;
    buttons.forEach(function (b) { b.disabled = n === 0; });
    if (count) count.textContent = n ? (texts.selected || "%n selected").replace("%n", n) : "";
    if (all) {
      all.checked = n > 0 && n === picks().length;
      all.indeterminate = n > 0 && n < picks().length;
    }
  }
  if (all) all.addEventListener("change", function () {
    picks().forEach(function (p) { p.checked = all.checked; });
    update();
  });
  form.addEventListener("change", function (event) {
    if (event.target.classList && event.target.classList.contains("pick")) update();
  });
  update();
})();
