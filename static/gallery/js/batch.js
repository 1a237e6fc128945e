// Batch page: refresh the progress fragment every second while the job runs on the server.
(function () {
  "use strict";
  var box = document.querySelector("[data-batch]");
  if (!box) return;
  var url = box.getAttribute("data-fragment-url");
  function running() {
    var p = box.querySelector("[data-batch-progress]");
    return p && p.getAttribute("data-running") === "1";
  }
  function tick() {
    if (!running()) return;
    setTimeout(function () {
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          box.innerHTML = html;
          if (!running()) { window.location.reload(); return; }  // show the final buttons
          tick();
        })
        .catch(function () { setTimeout(tick, 3000); });
    }, 1000);
  }
  tick();
})();
