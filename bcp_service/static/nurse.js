// Nurse page: results are queued on the phone (localStorage) and sent when there is a connection.
// Each result gets an id made here; the server records an id once, so resending after a lost reply is safe.
(function () {
  "use strict";
  var root = document.getElementById("nurse");
  if (!root) return;
  var KEY = "bcp-nurse-queue:" + root.getAttribute("data-user");
  var FAILED_KEY = KEY + ":failed";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var queueBox = document.getElementById("queue");
  var countEl = document.getElementById("queue-count");
  var noteEl = document.getElementById("queue-note");
  var failedEl = document.getElementById("queue-failed");
  var sending = false, timer = null, backoff = 2000;
  var PERMANENT = { 400: 1, 404: 1, 409: 1, 422: 1 };

  function load(key) { try { return JSON.parse(localStorage.getItem(key) || "[]"); } catch (e) { return []; } }
  function save(key, items) { localStorage.setItem(key, JSON.stringify(items)); }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // Pages served over plain http on a LAN have no randomUUID: build a v4 UUID from random bytes.
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function card(checkId) { return document.getElementById("c" + checkId); }

  function mark(item, text, sent) {
    var c = card(item.check_id);
    if (!c) return;
    var p = c.querySelector('[data-role="pending"]');
    p.hidden = false;
    p.textContent = text;
    p.classList.toggle("sent", !!sent);
    if (sent) {
      var badge = c.querySelector('[data-role="state"]');
      badge.textContent = item.label;
      badge.className = "state state-" + item.state;
      c.className = "pt pt-" + item.state;
    }
  }

  function render() {
    var items = load(KEY), failed = load(FAILED_KEY);
    countEl.textContent = String(items.length);
    queueBox.hidden = items.length === 0 && failed.length === 0;
    noteEl.textContent = navigator.onLine ? "送信しています…" : "圏外です。電波が戻ると自動で送信します。";
    items.forEach(function (item) { mark(item, "未送信: " + item.label + "（" + item.time + " 記録）"); });
    failedEl.innerHTML = "";
    failed.forEach(function (item) {
      var li = document.createElement("li");
      li.textContent = item.time + " " + item.label + ": 送信できませんでした（" + item.reason + "）";
      failedEl.appendChild(li);
    });
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(flush, delay);
  }

  function flush() {
    if (sending) return;
    var items = load(KEY);
    if (!items.length) { render(); return; }
    sending = true;
    var item = items[0];
    fetch("/api/v1/nurse/results", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(item.body)
    }).then(function (res) {
      sending = false;
      if (res.ok || PERMANENT[res.status]) {
        var rest = load(KEY).filter(function (x) { return x.body.client_id !== item.body.client_id; });
        save(KEY, rest);
        if (res.ok) {
          mark(item, "送信済み: " + item.label, true);
        } else {
          var failed = load(FAILED_KEY);
          failed.push({ time: item.time, label: item.label, reason: "担当外か、安否確認が終了しています (" + res.status + ")" });
          save(FAILED_KEY, failed);
          mark(item, "送信できませんでした: " + item.label);
        }
        backoff = 2000;
        render();
        schedule(0);
        return;
      }
      // Logged out (401/403), busy (429) or a server error: keep it, try again later.
      if (res.status === 401 || res.status === 403) noteEl.textContent = "ログインし直すと送信します。";
      retryLater();
    }).catch(function () {
      sending = false;
      retryLater();
    });
  }

  function retryLater() {
    render();
    schedule(backoff);
    backoff = Math.min(backoff * 2, 60000);
  }

  // The time a result was recorded, in the service's time zone (Japan) whatever the phone is set to.
  var fmtHM = new Intl.DateTimeFormat("ja-JP", { timeZone: root.getAttribute("data-tz") || "Asia/Tokyo",
                                                 hour: "2-digit", minute: "2-digit", hour12: false });
  function now() { return fmtHM.format(new Date()); }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.classList || !form.classList.contains("result-form")) return;
    var button = e.submitter;
    if (!button || button.name !== "state") return;
    e.preventDefault();
    var hours = form.elements.hours.value.trim();
    var note = form.elements.note.value.trim();
    var method = form.querySelector('input[name="method"]:checked');
    var body = {
      client_id: newId(), check_id: Number(form.getAttribute("data-check")), state: button.value,
      method: method ? method.value : "phone", observed_at: new Date().toISOString()
    };
    if (hours !== "") {
      var n = Number(hours.replace(/[０-９．]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xFEE0); }));
      if (isNaN(n) || n < 0 || n > 720) { form.elements.hours.focus(); return; }
      body.hours_left = n;
    }
    if (note) body.note = note;
    var power = form.querySelector('input[name="power"]:checked');
    if (power) body.power = power.value;
    ["hours_unknown", "needs_transport", "needs_admission"].forEach(function (name) {
      if (form.elements[name] && form.elements[name].checked) body[name] = true;
    });
    var where = form.elements.evacuated_to ? form.elements.evacuated_to.value.trim() : "";
    if (where) body.evacuated_to = where;
    var items = load(KEY);
    items.push({ body: body, check_id: body.check_id, state: body.state, label: button.getAttribute("data-label"), time: now() });
    save(KEY, items);
    form.reset();
    var details = form.closest("details");
    if (details) details.open = false;
    backoff = 2000;
    render();
    flush();
  });

  document.getElementById("queue-retry").addEventListener("click", function () { backoff = 2000; flush(); });
  window.addEventListener("online", function () { backoff = 2000; render(); flush(); });
  window.addEventListener("offline", render);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) flush(); });
  render();
  flush();
})();
