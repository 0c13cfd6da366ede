// Nurse page without signal: registers the service worker that keeps the last list, says how old the
// list on screen is, and forgets the kept list at logout (it holds patients' names and phones).
(function () {
  "use strict";
  var root = document.getElementById("nurse");
  if (!root) return;
  var ageEl = document.getElementById("list-age");
  var offlineEl = document.getElementById("list-offline");
  var generated = new Date(root.getAttribute("data-generated"));
  var fromCache = root.getAttribute("data-offline") === "1";
  var fmt = new Intl.DateTimeFormat("ja-JP", { timeZone: root.getAttribute("data-tz") || "Asia/Tokyo",
    month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });

  function age() {
    var minutes = Math.max(0, Math.floor((Date.now() - generated.getTime()) / 60000));
    var ago = minutes < 1 ? "1分以内" : minutes < 60 ? minutes + "分前" :
      Math.floor(minutes / 60) + "時間" + (minutes % 60 ? (minutes % 60) + "分" : "") + "前";
    ageEl.textContent = fmt.format(generated) + " 時点の一覧（" + ago + "）";
    var offline = fromCache || !navigator.onLine;
    offlineEl.hidden = !offline;
    root.classList.toggle("list-stale", offline);
  }
  if (ageEl && !isNaN(generated.getTime())) {
    age();
    setInterval(age, 30000);
    window.addEventListener("online", age);
    window.addEventListener("offline", age);
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/nurse/sw.js", { scope: "/nurse" }).catch(function () {});
  }
  var logout = document.querySelector('form[action="/logout"]');
  if (logout && window.caches) {
    logout.addEventListener("submit", function (event) {
      // Forget first, then log out: a navigation could cut the deletion short.
      event.preventDefault();
      var done = function () { logout.submit(); };
      caches.delete("bcp-nurse-v1").then(done, done);
    });
  }
})();
