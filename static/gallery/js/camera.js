// The camera-style search box: choose, drop or paste an image, or take one with the webcam;
// the image goes into the form's file input and the form is sent.
(function () {
  "use strict";
  document.querySelectorAll("form[data-camera]").forEach(function (form) {
    var input = form.querySelector("[data-camera-file]");
    var picked = form.querySelector("[data-camera-picked]");
    var drop = form;
    var texts = Tuku.text("camera-text");

    function useFile(file, submit) {
      if (!file) return;
      var transfer = new DataTransfer();
      transfer.items.add(file);
      input.files = transfer.files;
      if (picked) picked.textContent = (texts.searching || "Searching with %s…").replace("%s", file.name || "image");
      var url = form.querySelector("input[name=url]");
      if (url) url.value = "";
      if (submit) form.requestSubmit ? form.requestSubmit() : form.submit();
    }

    input.addEventListener("change", function () {
      if (input.files.length) useFile(input.files[0], true);
    });
    ["dragenter", "dragover"].forEach(function (type) {
      drop.addEventListener(type, function (event) {
        event.preventDefault();
        form.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      drop.addEventListener(type, function () { form.classList.remove("dragging"); });
    });
    drop.addEventListener("drop", function (event) {
      event.preventDefault();
      var files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) { useFile(files[0], true); return; }
      var uri = event.dataTransfer && event.dataTransfer.getData("text/uri-list");
      var url = form.querySelector("input[name=url]");
      if (uri && url) { url.value = uri.split("\n")[0].trim(); form.requestSubmit(); }
    });
    // Paste anywhere on the page (not into another text field) searches with the image.
    document.addEventListener("paste", function (event) {
      var target = event.target;
      var inText = target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type !== "file"));
      var items = (event.clipboardData && event.clipboardData.items) || [];
      for (var i = 0; i < items.length; i += 1) {
        if (items[i].kind === "file" && items[i].type.indexOf("image/") === 0) {
          if (inText && target.form !== form) return;
          event.preventDefault();
          var blob = items[i].getAsFile();
          var name = "pasted." + (blob.type.split("/")[1] || "png");
          useFile(new File([blob], name, { type: blob.type }), true);
          return;
        }
      }
    });

    // Webcam: getUserMedia → video → canvas → JPEG.
    var open = form.querySelector("[data-camera-webcam]");
    var panel = form.querySelector("[data-camera-panel]");
    var video = form.querySelector("[data-camera-video]");
    var canvas = form.querySelector("[data-camera-canvas]");
    var shoot = form.querySelector("[data-camera-shoot]");
    var close = form.querySelector("[data-camera-close]");
    var stream = null;
    if (!open || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    open.hidden = false;
    function stop() {
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null;
      panel.hidden = true;
    }
    open.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          panel.hidden = false;
          return video.play();
        }).then(function () { shoot.focus(); })
        .catch(function (error) {
          if (picked) picked.textContent = (texts.no_camera || "No camera: %s").replace("%s", error.message || error.name);
        });
    });
    close.addEventListener("click", stop);
    shoot.addEventListener("click", function () {
      var w = video.videoWidth, h = video.videoHeight;
      if (!w || !h) return;
      var scale = Math.min(1, 1600 / Math.max(w, h));  // stay well under the 3 MiB limit
      canvas.width = Math.round(w * scale);
      canvas.height = Math.round(h * scale);
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(function (blob) {
        stop();
        useFile(new File([blob], "webcam.jpg", { type: "image/jpeg" }), true);
      }, "image/jpeg", 0.9);
    });
  });
})();
