// Helpers shared by the page modules: CSRF token, JSON fetch, translated strings.
(function () {
  "use strict";
  function csrf(form) {
    var input = (form || document).querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function text(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "class") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  window.Tuku = { csrf: csrf, text: text, el: el };
})();

// The language switch: choosing a language reloads the page in it at once (the "Go" button is
// for browsers without scripts), and what was typed into the page's fields comes back.
(function () {
  "use strict";
  var form = document.querySelector("form.lang");
  if (!form) return;
  var select = form.querySelector("select[name=language]");
  var button = form.querySelector("button[type=submit]");
  if (!select) return;
  if (button) button.hidden = true;
  var key = "tuku-typed:" + location.pathname + location.search;
  function fields() {
    return Array.prototype.slice.call(document.querySelectorAll("main input, main textarea, main select"));
  }
  function changed(field) {
    if (!field.name || /^(password|file|hidden|submit|button)$/.test(field.type)) return false;
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    if (field.tagName === "SELECT") {
      return Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    return field.value !== field.defaultValue;
  }
  select.addEventListener("change", function () {
    var typed = [];
    fields().forEach(function (field, i) {
      if (!changed(field)) return;
      var checkable = field.type === "checkbox" || field.type === "radio";
      typed.push([i, field.name, checkable ? field.checked : field.value]);
    });
    try { sessionStorage.setItem(key, JSON.stringify(typed)); } catch (e) { /* private mode: nothing kept */ }
    form.submit();
  });
  var saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(key) || "null");
    sessionStorage.removeItem(key);
  } catch (e) { saved = null; }
  if (!saved) return;
  var now = fields();
  saved.forEach(function (entry) {
    var field = now[entry[0]];
    if (!field || field.name !== entry[1]) return;  // the page changed meanwhile
    if (typeof entry[2] === "boolean") field.checked = entry[2];
    else field.value = entry[2];
  });
})();

// The phone's top-bar menu: a toggle instead of the #topmenu link's jump (which is what
// browsers without scripts get).
(function () {
  "use strict";
  var toggle = document.querySelector("[data-menu-toggle]");
  var menu = document.querySelector("[data-menu]");
  if (!toggle || !menu) return;
  toggle.setAttribute("role", "button");
  toggle.addEventListener("click", function (event) {
    event.preventDefault();
    var open = !menu.classList.contains("open");
    menu.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && menu.classList.contains("open")) {
      menu.classList.remove("open");
      toggle.setAttribute("aria-expanded", "false");
      toggle.focus();
    }
  });
})();
