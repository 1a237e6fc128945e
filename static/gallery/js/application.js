// Application page: reveal the Secret Key in place (the POST is logged server-side).
(function () {
  "use strict";
  var form = document.querySelector("form[data-reveal]");
  var value = document.querySelector("[data-secret-value]");
  if (!form || !value) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    fetch(form.action, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": Tuku.csrf(form), "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) throw new Error(response.status);
      return response.json();
    }).then(function (data) {
      value.textContent = data.secret_key;
      form.hidden = true;
      if (Tuku.copyAttach) Tuku.copyAttach(value);
    }).catch(function () { form.submit(); });
  });
})();
