// Search results: minimum score (client-side) and the toggle for deleted hits.
(function () {
  "use strict";
  var range = document.querySelector("[data-min-score]");
  var out = document.querySelector("[data-min-score-out]");
  var toggle = document.querySelector("[data-show-deleted]");
  var note = document.querySelector("[data-hidden-count]");
  var texts = Tuku.text("search-text");
  var hits = document.querySelectorAll("li.hit");
  if (!hits.length) return;
  function apply() {
    var min = range ? parseFloat(range.value) || 0 : 0;
    var showDeleted = toggle ? toggle.checked : false;
    var hidden = 0;
    hits.forEach(function (hit) {
      var score = parseFloat(hit.getAttribute("data-score"));
      var hide = score < min || (hit.hasAttribute("data-deleted") && !showDeleted);
      hit.hidden = hide;
      if (hide) hidden += 1;
    });
    if (out) out.textContent = min.toFixed(2);
    if (note) note.textContent = hidden ? ((hidden !== 1 && texts.hidden_plural) || texts.hidden || "%n hidden").replace("%n", hidden) : "";
  }
  if (range) range.addEventListener("input", apply);
  if (toggle) toggle.addEventListener("change", apply);
  apply();
})();
