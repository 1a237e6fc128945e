// Preview: while the image is on its way (upload, edit or delete), poll and refresh when done.
(function () {
  "use strict";
  var box = document.querySelector("[data-watch]");
  if (!box) return;
  var url = box.getAttribute("data-status-url");
  var tries = 0;
  function poll() {
    tries += 1;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        var ids = Object.keys(data.images);
        var row = ids.length ? data.images[ids[0]] : null;
        if (!row || row.status === "deleted") { window.location.reload(); return; }
        var state = box.querySelector("[data-state]");
        if (state) state.textContent = row.status_label;
        if (row.done) { window.location.reload(); return; }
        setTimeout(poll, Math.min(5000, 700 + tries * 200));
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 700);
})();
