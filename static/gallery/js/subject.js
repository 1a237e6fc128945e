// An Alibaba instance's search: the subject boxes drawn over the query picture, and a box the
// user drags on it to search again with that part of the picture (sent as Region).
(function () {
  "use strict";
  var form = document.querySelector("form[data-camera]");
  if (!form) return;
  var region = form.querySelector("[name=region]");

  // A new picture starts afresh: the last search's picture and box belong to the old one.
  form.addEventListener("submit", function () {
    var file = form.querySelector("[data-camera-file]");
    var url = form.querySelector("input[name=url]");
    if ((file && file.files.length) || (url && url.value.trim())) {
      ["q", "image_id", "region"].forEach(function (name) {
        var input = form.querySelector("[name=" + name + "]");
        if (input) input.value = "";
      });
    }
  });

  var frame = document.querySelector("[data-subject-result]");
  if (!frame || !region) return;
  var img = frame.querySelector("img");
  var width = Number(frame.getAttribute("data-width"));
  var height = Number(frame.getAttribute("data-height"));
  if (!img || !width || !height) return;

  // Boxes are in the picture's own pixels ("x1,x2,y1,y2"), shown in per cent of the frame.
  function place(el, x1, x2, y1, y2) {
    el.style.left = (100 * x1 / width) + "%";
    el.style.width = (100 * (x2 - x1) / width) + "%";
    el.style.top = (100 * y1 / height) + "%";
    el.style.height = (100 * (y2 - y1) / height) + "%";
  }
  frame.querySelectorAll("[data-box]").forEach(function (el) {
    var b = el.getAttribute("data-box").split(",").map(Number);
    place(el, b[0], b[1], b[2], b[3]);
  });

  var drawn = Tuku.el("span", { class: "box user", "data-drawn": "1" });
  drawn.hidden = true;
  frame.appendChild(drawn);
  var start = null;
  function point(event) {
    var rect = img.getBoundingClientRect();
    var x = Math.min(Math.max(event.clientX - rect.left, 0), rect.width);
    var y = Math.min(Math.max(event.clientY - rect.top, 0), rect.height);
    return { x: x / rect.width * width, y: y / rect.height * height };
  }
  function box(a, b) {
    var x1 = Math.round(Math.min(a.x, b.x)), x2 = Math.round(Math.max(a.x, b.x));
    var y1 = Math.round(Math.min(a.y, b.y)), y2 = Math.round(Math.max(a.y, b.y));
    // A click or a sliver is no box: at least 2 % of each side.
    if (x2 - x1 < width / 50 || y2 - y1 < height / 50) return null;
    return [x1, x2, y1, y2];
  }
  frame.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    start = point(event);
    if (frame.setPointerCapture) frame.setPointerCapture(event.pointerId);
  });
  frame.addEventListener("pointermove", function (event) {
    if (!start) return;
    var b = box(start, point(event));
    drawn.hidden = !b;
    if (b) place(drawn, b[0], b[1], b[2], b[3]);
  });
  frame.addEventListener("pointerup", function (event) {
    if (!start) return;
    var b = box(start, point(event));
    start = null;
    if (!b) { drawn.hidden = true; return; }
    region.value = b.join(",");
    form.requestSubmit ? form.requestSubmit() : form.submit();
  });
})();
