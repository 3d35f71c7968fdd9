// chatbench live charts: polls /llm/series and draws four uPlot charts (vendored, no CDN).
(function () {
  "use strict";
  var script = document.currentScript;
  var base = (script && script.getAttribute("data-base")) || "";
  var specs = {
    ttft: [["ttft_p50_ms", "p50", "#1f77b4"], ["ttft_p95_ms", "p95", "#d62728"]],
    tpot: [["tpot_p50_ms", "p50", "#1f77b4"], ["tpot_p95_ms", "p95", "#d62728"]],
    tokens: [["output_tokens_per_s", "tokens/s", "#2ca02c"]],
    rates: [["requests_per_s", "requests/s", "#1f77b4"], ["errors_per_s", "errors/s", "#d62728"]]
  };
  var data = {}, test = null, charts = {};
  function width() { return Math.max(480, Math.min(760, window.innerWidth - 48)); }
  function make(id) {
    var series = [{ label: "s" }].concat(specs[id].map(function (s) {
      return { label: s[1], stroke: s[2], width: 2, spanGaps: false };
    }));
    // y from zero: a latency or a rate read against its own zero, never a magnified wiggle
    var y = { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } };
    var opts = { width: width(), height: 240, series: series, scales: { x: { time: false }, y: y },
                 axes: [{ label: "seconds since the test start" }, {}] };
    var el = document.getElementById(id);
    while (el.firstChild) { el.removeChild(el.firstChild); }
    return new uPlot(opts, columns(id), el);
  }
  function columns(id) {
    return [data.t_s || []].concat(specs[id].map(function (s) { return data[s[0]] || []; }));
  }
  function reset() { data = {}; Object.keys(specs).forEach(function (id) { charts[id] = make(id); }); }
  // The last REVISE points are fetched again each time: tokens are counted when they arrived, and a long
  // answer's land in seconds already drawn once it has ended.
  var REVISE = 30;
  function append(from, series) {
    Object.keys(series).forEach(function (k) { data[k] = (data[k] || []).slice(0, from).concat(series[k]); });
  }
  function draw() {
    Object.keys(specs).forEach(function (id) { charts[id].setData(columns(id)); });
    var n = (data.t_s || []).length;
    document.getElementById("status").textContent =
      "test " + test + ": " + n + " seconds drawn";
    document.body.setAttribute("data-points", String(n));
    document.body.setAttribute("data-y-min", String(Math.min.apply(null,
      Object.keys(charts).map(function (id) { return charts[id].scales.y.min; }))));
  }
  function poll() {
    var from = Math.max(0, (data.t_s || []).length - REVISE);
    fetch(base + "/llm/series?from=" + from, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || !body.test) { return; }
        if (body.test !== test) { test = body.test; reset(); if (from) { from = 0; return; } }
        append(body.from, body.series);
        draw();
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, 2000); });
  }
  reset();
  poll();
})();
