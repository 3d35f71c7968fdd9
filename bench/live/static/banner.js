// chatbench: keeps the bar above Locust's page current (each test's report links, the bottleneck
// warning). Text goes in through textContent and hrefs come from the server's own routes: nothing
// from the server is parsed as HTML.
(function () {
  "use strict";
  var script = document.currentScript;
  var base = (script && script.getAttribute("data-base")) || "";
  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    a.target = "_blank";
    a.style.color = "#9cf";
    return a;
  }
  function render(state) {
    var box = document.getElementById("chatbench-tests");
    var warn = document.getElementById("chatbench-warning");
    if (!box) { return; }
    while (box.firstChild) { box.removeChild(box.firstChild); }
    (state.tests || []).forEach(function (t) {
      var span = document.createElement("span");
      span.className = "chatbench-test";
      span.setAttribute("data-test", String(t.test));
      span.setAttribute("data-status", t.status);
      span.appendChild(document.createTextNode("test " + t.test + ": " + t.status +
        (t.verdict ? " (SLO " + t.verdict + ")" : "") + " "));
      var names = Object.keys(t.files || {});
      names.forEach(function (name, i) {
        span.appendChild(link(t.files[name], name));
        if (i < names.length - 1) { span.appendChild(document.createTextNode(" ")); }
      });
      span.appendChild(document.createTextNode(" · "));
      box.appendChild(span);
    });
    var b = state.bottleneck;
    warn.textContent = b && b.warning ?
      "⚠ load generator at " + Math.round(b.cpu_pct) + " % of a core: timings may be inflated" : "";
  }
  // The LLM tab's verdict cells in colour: green PASS, red FAIL, amber WARNING (Locust's table is text only).
  var COLOURS = { "PASS": "#c8f2c8", "FAIL": "#f8c4c4", "WARNING": "#ffe1a8" };
  function colour() {
    var cells = document.querySelectorAll("table tbody td");
    for (var i = 0; i < cells.length; i++) {
      var word = (cells[i].textContent || "").split(" ")[0];
      var bg = COLOURS[word] || "";
      if (cells[i].style.backgroundColor !== bg) { cells[i].style.backgroundColor = bg; }
    }
  }
  new MutationObserver(colour).observe(document.documentElement, { childList: true, subtree: true, characterData: true });
  function poll() {
    fetch(base + "/llm/state", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) { render(s); } })
      .catch(function () {})
      .then(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
