// The usage page: each [data-chart] figure gets a stacked bar chart (the vendored Chart.js)
// drawn from the page's #usage-data JSON; its table of the same numbers, open without
// scripts, is then folded. Dates and numbers follow the page's language (<html lang>).
(function () {
  "use strict";
  var node = document.getElementById("usage-data");
  if (!node || !window.Chart) return;
  var data = JSON.parse(node.textContent);
  var lang = document.documentElement.lang || "en";
  // The days are calendar days of the console's zone, sent as ISO dates: read and shown in
  // UTC so that the browser's own zone cannot move them by one.
  var short = new Intl.DateTimeFormat(lang, { month: "short", day: "numeric", timeZone: "UTC" });
  var full = new Intl.DateTimeFormat(lang, {
    weekday: "short", year: "numeric", month: "short", day: "numeric", timeZone: "UTC"
  });
  var number = new Intl.NumberFormat(lang);
  var dates = data.days.map(function (day) { return new Date(day + "T00:00:00Z"); });
  var labels = dates.map(function (day) { return short.format(day); });

  function draw(figure) {
    var series = data.charts[figure.getAttribute("data-chart")];
    if (!series || !series.length) return;
    var box = figure.querySelector(".chart-canvas");
    box.hidden = false;
    new window.Chart(box.querySelector("canvas"), {
      type: "bar",
      data: {
        labels: labels,
        datasets: series.map(function (s) {
          return { label: s.label, data: s.data, backgroundColor: s.colour, borderWidth: 0 };
        })
      },
      options: {
        locale: lang,
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: {
            stacked: true,
            grid: { display: false },
            // As many dates as fit side by side, evenly spaced; never slanted.
            ticks: { autoSkip: true, autoSkipPadding: 18, maxRotation: 0, minRotation: 0 }
          },
          y: {
            stacked: true,
            beginAtZero: true,
            ticks: { precision: 0 },
            title: { display: true, text: data.texts.calls }
          }
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 14 } },
          tooltip: {
            filter: function (item) { return item.parsed.y > 0; },
            callbacks: {
              title: function (items) {
                return items.length ? full.format(dates[items[0].dataIndex]) : "";
              },
              footer: function (items) {
                var sum = items.reduce(function (n, item) { return n + item.parsed.y; }, 0);
                return data.texts.total + ": " + number.format(sum);
              }
            }
          }
        }
      }
    });
    var numbers = figure.querySelector("[data-chart-numbers]");
    if (numbers) numbers.open = false;
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), draw);
})();
