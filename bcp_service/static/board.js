// Live status board: server-sent events replace the sections the server rendered, prepend new answers
// to the feed and extend the answer-rate chart. No library; served by the service itself.
(function () {
  "use strict";
  var root = document.getElementById("board");
  var bootEl = document.getElementById("board-boot");
  if (!root || !bootEl) return;
  var boot = JSON.parse(bootEl.textContent);
  var series = boot.series || [];
  var total = boot.total || 0;
  var FEED_MAX = 30;
  var status = document.getElementById("live-status");
  var updated = document.getElementById("updated-at");

  // Times in the service's time zone (Japan), whatever the viewer's device is set to.
  var tz = boot.tz || "Asia/Tokyo";
  var fmtClock = new Intl.DateTimeFormat("ja-JP", { timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  var fmtHM = new Intl.DateTimeFormat("ja-JP", { timeZone: tz, hour: "2-digit", minute: "2-digit", hour12: false });
  function clock(ms) { return fmtClock.format(new Date(ms)); }

  function setStatus(kind, text) {
    if (!status) return;
    status.className = "live-status no-print " + kind;
    status.querySelector(".text").textContent = text;
  }

  function replaceSections(sections) {
    Object.keys(sections).forEach(function (key) {
      var el = root.querySelector('[data-section="' + key + '"]');
      // The HTML comes from this service's own templates, escaped there (autoescape).
      if (el) el.innerHTML = sections[key];
    });
  }

  function addFeed(items, replace) {
    var list = document.getElementById("feed");
    if (!list) return;
    var seen = {};
    Array.prototype.forEach.call(list.children, function (li) { seen[li.getAttribute("data-answer")] = true; });
    var fresh = [];
    // Items arrive newest first; insert oldest first so the newest ends on top.
    for (var i = items.length - 1; i >= 0; i--) {
      var item = items[i];
      if (seen[String(item.id)]) continue;
      var holder = document.createElement("ol");
      holder.innerHTML = item.html;
      var li = holder.firstElementChild;
      if (!li) continue;
      if (!replace) li.classList.add("fresh");
      list.insertBefore(li, list.firstChild);
      fresh.push(li);
    }
    var rows = Array.prototype.slice.call(list.children);
    rows.sort(function (a, b) { return Number(b.getAttribute("data-answer")) - Number(a.getAttribute("data-answer")); });
    rows.forEach(function (li) { list.appendChild(li); });
    while (list.children.length > FEED_MAX) list.removeChild(list.lastElementChild);
    return fresh;
  }

  function addPoint(point) {
    if (!point) return;
    var last = series[series.length - 1];
    if (last && point[0] - last[0] < 10000) series[series.length - 1] = point; else series.push(point);
  }

  var SVG = "http://www.w3.org/2000/svg";
  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function drawChart() {
    var box = document.getElementById("chart");
    if (!box) return;
    var w = box.clientWidth || 600, h = box.clientHeight || 240;
    var m = { l: 40, r: 12, t: 10, b: 24 };
    var now = Date.now();
    var t0 = boot.started || (series.length ? series[0][0] : now - 3600000);
    var t1 = Math.max(now, series.length ? series[series.length - 1][0] : now, t0 + 60000);
    function x(t) { return m.l + (w - m.l - m.r) * (t - t0) / (t1 - t0); }
    function y(p) { return m.t + (h - m.t - m.b) * (1 - p / 100); }
    var svg = el("svg", { viewBox: "0 0 " + w + " " + h, preserveAspectRatio: "none" });
    [0, 25, 50, 75, 100].forEach(function (p) {
      svg.appendChild(el("line", { x1: m.l, x2: w - m.r, y1: y(p), y2: y(p), "class": "gridline" }));
      svg.appendChild(el("text", { x: m.l - 6, y: y(p) + 4, "text-anchor": "end" }, p + "%"));
    });
    var ticks = 5;
    for (var i = 0; i <= ticks; i++) {
      var t = t0 + (t1 - t0) * i / ticks;
      svg.appendChild(el("text", { x: x(t), y: h - 6, "text-anchor": i === 0 ? "start" : (i === ticks ? "end" : "middle") },
        fmtHM.format(new Date(t))));
    }
    svg.appendChild(el("line", { x1: m.l, x2: m.l, y1: m.t, y2: h - m.b, "class": "axis" }));
    svg.appendChild(el("line", { x1: m.l, x2: w - m.r, y1: h - m.b, y2: h - m.b, "class": "axis" }));
    // The page's series counts answers by the minute they came in, stamped at the minute's start: a
    // minute that began before the round did still holds answers, so it is drawn at the start, not dropped.
    var pts = [[t0, 0]].concat(series.map(function (p) { return [Math.max(p[0], t0), p[1]]; }));
    pts.push([t1, pts[pts.length - 1][1]]);
    var path = "", area = "";
    pts.forEach(function (p, k) {
      var pct = total ? Math.min(100, 100 * p[1] / total) : 0;
      path += (k ? " L" : "M") + x(p[0]).toFixed(1) + " " + y(pct).toFixed(1);
    });
    area = path + " L" + x(t1).toFixed(1) + " " + y(0) + " L" + x(t0).toFixed(1) + " " + y(0) + " Z";
    svg.appendChild(el("path", { d: area, "class": "area" }));
    svg.appendChild(el("path", { d: path, "class": "line" }));
    var lastPct = total ? (100 * pts[pts.length - 1][1] / total) : 0;
    svg.appendChild(el("text", { x: w - m.r, y: Math.max(m.t + 12, y(lastPct) - 6), "text-anchor": "end", "font-weight": "700" },
      lastPct.toFixed(1) + "%"));
    box.innerHTML = "";
    box.appendChild(svg);
  }

  function apply(msg, isSnapshot) {
    if (typeof msg.total === "number") total = msg.total;
    replaceSections(msg.sections || {});
    if (isSnapshot) {
      if (msg.series) series = msg.series;
      addFeed(msg.feed || [], true);
    } else {
      addFeed(msg.feed || [], false);
      addPoint(msg.point);
    }
    var pill = document.getElementById("round-state");
    if (pill && msg.round_state) {
      pill.textContent = msg.round_state === "running" ? "実施中" : "終了";
      pill.className = msg.round_state === "running" ? "pill pill-live" : "pill";
    }
    if (updated) updated.textContent = clock(msg.at || Date.now());
    root.setAttribute("data-answer-id", String(msg.answer_id || 0));
    drawChart();
  }

  function running() {
    var pill = document.getElementById("round-state");
    return !pill || pill.classList.contains("pill-live");
  }

  var source = null, retryDelay = 1000, retryTimer = null;
  function connect() {
    if (!running()) { setStatus("closed", "終了したラウンドです（最終結果）"); return; }
    if (!window.EventSource) { setStatus("off", "この端末ではライブ更新できません（再読み込みで最新）"); return; }
    retryTimer = null;
    source = new EventSource(boot.events);
    source.addEventListener("open", function () { retryDelay = 1000; setStatus("on", "ライブ更新中"); });
    // Every connection starts with a snapshot, so a reconnect catches up on what it missed.
    source.addEventListener("snapshot", function (e) { apply(JSON.parse(e.data), true); afterMessage(); });
    source.addEventListener("update", function (e) { apply(JSON.parse(e.data), false); afterMessage(); });
    // The login behind the stream has ended (revoked, expired, password reset): sign in again.
    source.addEventListener("expired", function () { source.close(); window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search); });
    source.addEventListener("error", function () {
      if (source.readyState !== EventSource.CLOSED) { setStatus("off", "再接続中…"); return; }
      // The browser gives up after an error answer (a 500, a restart): try again, waiting longer each time.
      source.close();
      if (retryTimer) return;
      setStatus("off", "接続が切れました。" + Math.round(retryDelay / 1000) + " 秒後に再接続します…");
      retryTimer = setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    });
  }

  function afterMessage() {
    if (running()) { setStatus("on", "ライブ更新中"); return; }
    // The round was closed while we watched: the last message has the final counts.
    setStatus("closed", "ラウンドは終了しました（最終結果）");
    if (source) source.close();
  }

  drawChart();
  window.addEventListener("resize", drawChart);
  setInterval(drawChart, 30000);
  connect();
})();
