// Copy buttons: one after every [data-copy-source] element (keys, endpoints, the code
// snippet), made here so that a page without scripts shows no dead button. The clipboard API
// where the page may use it (a secure context), else a selected textarea and execCommand.
(function () {
  "use strict";
  var texts = Tuku.text("copy-text");

  function fallback(value) {
    var area = document.createElement("textarea");
    area.value = value;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    document.body.removeChild(area);
    return done ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copy(value) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(value).catch(function () { return fallback(value); });
    }
    return fallback(value);
  }

  function attach(source) {
    if (source.nextElementSibling && source.nextElementSibling.hasAttribute("data-copy")) return;
    var button = Tuku.el("button", { type: "button", class: "copy", "data-copy": "", text: texts.copy || "Copy" });
    var status = Tuku.el("span", { class: "copy-status", role: "status", "aria-live": "polite" });
    button.addEventListener("click", function () {
      copy(source.textContent).then(function () {
        status.textContent = texts.copied || "Copied";
      }, function () {
        // Select the text so that the keyboard shortcut copies it.
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        status.textContent = texts.failed || "";
      });
      window.setTimeout(function () { status.textContent = ""; }, 2500);
    });
    source.parentNode.insertBefore(status, source.nextSibling);
    source.parentNode.insertBefore(button, status);
  }

  function attachAll(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-copy-source]"), attach);
  }
  Tuku.copyAttach = attach;
  attachAll();
})();
