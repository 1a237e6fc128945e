// Upload page: files (picker, drag and drop, whole folders) and URLs, each with its own line,
// progress bar and live status until it is indexed or refused.
(function () {
  "use strict";
  var form = document.querySelector("form[data-upload]");
  if (!form) return;
  var texts = Tuku.text("upload-text");
  var list = document.querySelector("[data-results]");
  var summary = document.querySelector("[data-summary]");
  var picked = form.querySelector("[data-picked]");
  var zone = form.querySelector("[data-dropzone]");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
  var statusUrl = form.getAttribute("data-status-url");
  var batchUrl = form.getAttribute("data-batch-url");
  var batchLink = document.querySelector("[data-batch-link]");
  var batch = null;    // the server-side job the files are posted into
  var queue = [];      // items waiting to be sent
  var watching = {};   // image id -> line, until settled
  var busy = false;

  // A counted text has a plural form (`key_plural`) for any count but one.
  function t(key, value) {
    var text = (typeof value === "number" && value !== 1 && texts[key + "_plural"]) || texts[key] || key;
    return text.replace("%s", value === undefined ? "" : value);
  }

  function line(name) {
    var state = Tuku.el("span", { class: "state", text: t("waiting") });
    var bar = Tuku.el("progress", { max: "100", value: "0" });
    var li = Tuku.el("li", { class: "result" }, [Tuku.el("span", { class: "name", text: name }), state, bar]);
    list.appendChild(li);
    return { li: li, state: state, bar: bar };
  }

  function refuse(item, error, duplicate) {
    item.li.className = "result bad";
    item.state.textContent = t("refused");
    item.bar.remove();
    var why = Tuku.el("span", { class: "why" }, [
      error.code ? Tuku.el("code", { text: String(error.code) }) : null,
      document.createTextNode(" " + (error.message || "") + (error.explanation ? " — " + error.explanation : ""))
    ]);
    item.li.appendChild(why);
    if (duplicate) {
      item.li.appendChild(Tuku.el("a", { href: duplicate.url, text: t("already_here", duplicate.brief) }));
      if (duplicate.update_url) item.li.appendChild(Tuku.el("a", { href: duplicate.update_url, text: t("update_instead") }));
    }
  }

  function accepted(item, result) {
    var image = result.image;
    item.li.className = "result ok status-" + image.status;
    item.li.setAttribute("data-image-id", image.id);
    item.state.textContent = image.status_label;
    item.bar.removeAttribute("value");  // indeterminate while the backend works
    item.li.appendChild(Tuku.el("a", { href: image.url, text: t("preview") }));
    if (result.warning) item.li.appendChild(Tuku.el("span", { class: "warning", text: result.warning }));
    watching[image.id] = item;
  }

  function add(file) {
    var item = line(file.webkitRelativePath || file.name);
    if (file.size > maxBytes) {
      refuse(item, { code: form.getAttribute("data-too-big-code") || 216202, message: t("too_big", (file.size / 1048576).toFixed(1)), explanation: texts.limits });
      return;
    }
    item.file = file;
    queue.push(item);
  }

  function addFiles(files) {
    Array.prototype.forEach.call(files, add);
    if (picked) picked.textContent = t("queued", queue.length);
  }

  function walk(entry, done) {
    // A dropped folder: read it recursively (readEntries returns at most 100 per call).
    if (entry.isFile) { entry.file(function (f) { done([f]); }, function () { done([]); }); return; }
    if (!entry.isDirectory) { done([]); return; }
    var reader = entry.createReader(), all = [], pending = 0, finished = false;
    function read() {
      reader.readEntries(function (entries) {
        if (!entries.length) { finished = true; if (!pending) done(all); return; }
        entries.forEach(function (child) {
          pending += 1;
          walk(child, function (files) {
            all = all.concat(files);
            pending -= 1;
            if (finished && !pending) done(all);
          });
        });
        read();
      }, function () { finished = true; if (!pending) done(all); });
    }
    read();
  }

  form.querySelectorAll("[data-files]").forEach(function (input) {
    input.addEventListener("change", function () { addFiles(input.files); input.value = ""; });
  });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    var items = event.dataTransfer.items;
    if (items && items.length && items[0].webkitGetAsEntry) {
      // A folder comes as an entry to walk; a file that is no entry (dropped from another page
      // or made by a script: webkitGetAsEntry() gives null) is taken as the file it is.
      var loose = [];
      Array.prototype.forEach.call(items, function (item) {
        if (item.kind !== "file") return;
        var entry = item.webkitGetAsEntry();
        if (entry) {
          walk(entry, function (files) {
            files.sort(function (a, b) { return a.name < b.name ? -1 : 1; });
            addFiles(files);
          });
        } else {
          var file = item.getAsFile();
          if (file) loose.push(file);
        }
      });
      if (loose.length) addFiles(loose);
    } else {
      addFiles(event.dataTransfer.files);
    }
  });

  function fieldErrors(errors) {
    form.querySelectorAll(".field-error[data-js]").forEach(function (n) { n.remove(); });
    Object.keys(errors).forEach(function (name) {
      var input = form.querySelector("[name=" + name + "]");
      var anchor = input ? input.closest(".field") || input.parentNode : form.querySelector(".dropzone");
      errors[name].forEach(function (e) {
        anchor.appendChild(Tuku.el("p", { class: "field-error", role: "alert", "data-js": "1", text: e.message }));
      });
    });
  }

  function common(body, single) {
    body.append("csrfmiddlewaretoken", Tuku.csrf(form));
    // Labels, or an Alibaba instance's picture fields, apply to every file; a brief or a
    // picture name only to a file sent alone.
    ["tags", "class_id1", "class_id2", "product_id", "category_id", "int_attr1", "int_attr2",
     "int_attr3", "int_attr4", "str_attr1", "str_attr2", "str_attr3", "str_attr4"].forEach(function (name) {
      var input = form.querySelector("[name=" + name + "]");
      if (input && input.value.trim()) body.append(name, input.value.trim());
    });
    var custom = form.querySelector("[name=custom_content]");
    if (custom && custom.value) body.append("custom_content", custom.value);
    ["brief", "pic_name"].forEach(function (name) {
      var input = form.querySelector("[name=" + name + "]");
      if (single && input && input.value.trim()) body.append(name, input.value.trim());
    });
  }

  // Into a batch, files go several to a request (the server queues their adds as one task);
  // a single file goes alone to the upload page itself.
  var GROUP_FILES = 8, GROUP_BYTES = 8 * 1048576;

  function nextGroup() {
    var group = [queue.shift()], bytes = group[0].file.size;
    while (batch && queue.length && group.length < GROUP_FILES && bytes + queue[0].file.size <= GROUP_BYTES) {
      bytes += queue[0].file.size;
      group.push(queue.shift());
    }
    return group;
  }

  function send(group, single) {
    return new Promise(function (resolve) {
      var body = new FormData();
      common(body, single);
      // Only files are sent here; URLs always go to a batch, whose task downloads them.
      group.forEach(function (item) {
        body.append("files", item.file, item.file.name);
        item.state.textContent = t("sending");
      });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", batch ? batch.files_url : (form.action || window.location.href));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (event) {
        if (!event.lengthComputable) return;
        group.forEach(function (item) { item.bar.value = Math.round(100 * event.loaded / event.total); });
      });
      xhr.addEventListener("load", function () {
        var data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        if (data && data.errors) {
          fieldErrors(data.errors);
          group.forEach(function (item) { refuse(item, { message: t("fix_form") }); });
          resolve(false);
          return;
        }
        group.forEach(function (item, i) {
          var result = data && data.results && data.results[i];
          if (!result) refuse(item, { code: "HTTP " + xhr.status, message: t("server_error") });
          else if (result.ok) accepted(item, result);
          else refuse(item, result.error, result.duplicate);
        });
        resolve(true);
      });
      xhr.addEventListener("error", function () {
        group.forEach(function (item) { refuse(item, { code: "network", message: t("network") }); });
        resolve(true);
      });
      xhr.send(body);
    });
  }

  function run() {
    var total = queue.length, single = total === 1;
    busy = true;
    function next() {
      if (!queue.length) {
        busy = false;
        if (batch) closeBatch();
        if (picked) picked.textContent = "";
        if (summary && !Object.keys(watching).length) summary.textContent = t("all_done");
        poll();
        return;
      }
      var group = nextGroup();
      if (summary) summary.textContent = t("progress", (total - queue.length) + " / " + total);
      send(group, single).then(function (go) {
        if (!go) { queue.forEach(function (i) { refuse(i, { message: t("fix_form") }); }); queue = []; }
        poll();
        next();
      });
    }
    next();
  }

  function closeBatch() {
    var body = new FormData();
    body.append("csrfmiddlewaretoken", Tuku.csrf(form));
    fetch(batch.close_url, { method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "application/json" } });
  }

  // Several files, or any URL: a server-side batch job. URLs are downloaded by the server,
  // so the page goes to the batch's own page for them; files are posted into the batch here.
  function startBatch(urls) {
    var body = new FormData();
    common(body, false);
    body.append("urls", urls.join("\n"));
    body.append("files_follow", queue.length ? "1" : "0");
    return fetch(batchUrl, { method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (!data.ok) { fieldErrors(data.errors || {}); return null; }
        batch = data;
        if (batchLink) {
          batchLink.hidden = false;
          batchLink.textContent = "";
          batchLink.appendChild(Tuku.el("a", { href: data.url, "data-batch-url": "1", text: t("batch", "#" + data.id) }));
        }
        return data;
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    var field = form.querySelector("[name=urls]");
    var urls = field ? field.value.split(/\r?\n/).map(function (u) { return u.trim(); }).filter(Boolean) : [];
    if (!queue.length && !urls.length) { fieldErrors({ files: [{ message: t("nothing") }] }); return; }
    fieldErrors({});
    if (queue.length === 1 && !urls.length) { batch = null; run(); return; }
    busy = true;
    startBatch(urls).then(function (data) {
      busy = false;
      if (!data) return;
      if (field) field.value = "";
      if (!queue.length) { window.location.href = data.url; return; }
      run();
    });
  });

  // Live status of accepted rows, and of the recent ones listed by the server.
  document.querySelectorAll("[data-recent] [data-image-id]").forEach(function (li) {
    if (/status-(pending|indexing)/.test(li.className)) {
      watching[li.getAttribute("data-image-id")] = { li: li, state: li.querySelector("[data-state]"), bar: Tuku.el("progress") };
    }
  });
  var timer = null;
  function poll() {
    if (timer) return;
    var ids = Object.keys(watching);
    if (!ids.length) return;
    timer = setTimeout(function () {
      timer = null;
      fetch(statusUrl + "?ids=" + ids.join(","), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          Object.keys(data.images).forEach(function (id) {
            var row = data.images[id], item = watching[id];
            if (!item) return;
            item.state.textContent = row.status_label;
            item.li.className = "result status-" + row.status + (row.status === "failed" ? " bad" : " ok");
            if (row.done) {
              delete watching[id];
              if (item.bar) item.bar.remove();
              if (row.error) {
                item.li.appendChild(Tuku.el("span", { class: "why" }, [
                  Tuku.el("code", { text: row.error.code }),
                  document.createTextNode(" " + row.error.message + (row.error.explanation ? " — " + row.error.explanation : ""))
                ]));
              }
              if (row.duplicate) item.li.appendChild(Tuku.el("a", { href: row.duplicate.url, text: t("duplicate") }));
            }
          });
          var left = Object.keys(watching).length;
          if (summary) summary.textContent = left ? t("indexing", left) : t("all_done");
          poll();
        })
        .catch(function () { setTimeout(poll, 3000); });
    }, 800);
  }
  poll();

  // "Is this image already here?": answer in place.
  var check = document.querySelector("form[data-check]");
  var output = document.querySelector("[data-check-output]");
  if (check && output) {
    check.addEventListener("submit", function (event) {
      event.preventDefault();
      output.textContent = t("checking");
      fetch(check.action, {
        method: "POST", body: new FormData(check), credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" }
      }).then(function (r) { return r.text(); })
        .then(function (html) { output.innerHTML = html; })
        .catch(function (e) { output.textContent = String(e); });
    });
  }
})();
