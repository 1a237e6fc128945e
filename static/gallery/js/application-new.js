// New application: show the Baidu fields only for Baidu; "Test connection" asks the server.
(function () {
  "use strict";
  var form = document.querySelector("[data-app-form]");
  if (!form) return;
  function backend() {
    var checked = form.querySelector("input[name=backend]:checked");
    return checked ? checked.value : "builtin";
  }
  function sync() {
    form.querySelectorAll("[data-backend-only]").forEach(function (node) {
      node.hidden = node.getAttribute("data-backend-only").split(" ").indexOf(backend()) < 0;
    });
  }
  form.querySelectorAll("input[name=backend]").forEach(function (radio) {
    radio.addEventListener("change", sync);
  });
  sync();

  // The Alibaba fieldset sends its pair under the names the endpoint takes for both clouds.
  var FIELDS = {
    baidu: { base_url: "base_url", app_id: "app_id", api_key: "api_key", secret_key: "secret_key" },
    aliyun: { base_url: "endpoint", api_key: "access_key_id", secret_key: "access_key_secret", region: "region" }
  };
  form.querySelectorAll("[data-test-connection]").forEach(function (button) {
    var out = button.closest("fieldset").querySelector("[data-test-result]");
    button.addEventListener("click", function () { test(button, out); });
  });
  function test(button, out) {
    var body = new FormData();
    var kind = backend();
    body.append("backend", kind);
    var names = FIELDS[kind] || FIELDS.baidu;
    Object.keys(names).forEach(function (name) {
      var input = form.querySelector("[name=" + names[name] + "]");
      body.append(name, input ? input.value.trim() : "");
    });
    button.disabled = true;
    out.textContent = button.getAttribute("data-busy") || "…";
    fetch(form.getAttribute("data-test-url"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": Tuku.csrf(form), "Accept": "application/json" }
    }).then(function (response) { return response.json(); }).then(function (data) {
      out.textContent = "";
      if (data.ok) {
        out.appendChild(Tuku.el("p", { class: "ok", text: data.message }));
      } else if (data.errors) {
        out.appendChild(Tuku.el("p", { class: "field-error", text: Object.keys(data.errors).map(function (k) {
          return k + ": " + data.errors[k].map(function (e) { return e.message; }).join(" ");
        }).join(" ") }));
      } else {
        var box = Tuku.el("div", { class: "wire-error", role: "alert" }, [
          Tuku.el("p", {}, [Tuku.el("code", { text: String(data.code) }), document.createTextNode(" "), Tuku.el("code", { text: data.message })]),
          data.explanation ? Tuku.el("p", { text: data.explanation }) : null
        ]);
        out.appendChild(box);
      }
    }).catch(function (error) {
      out.textContent = String(error);
    }).finally(function () { button.disabled = false; });
  }
})();
