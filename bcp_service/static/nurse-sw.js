// Service worker for the nurse page (served as /nurse/sw.js, scope /nurse).
// The page is fetched from the network first; each good copy is kept, and shown when there is no
// signal, marked so the page says how old its list is. Results are still queued by nurse.js.
"use strict";
var CACHE = "bcp-nurse-v1";
var PAGE = "/nurse";
var ASSETS = ["/static/app.css", "/static/nurse.js", "/static/nurse-offline.js"];

function isPage(url) { return url.origin === self.location.origin && url.pathname === PAGE; }

function keep(response) {
  // Only the list itself: never a redirect to the login form or an error page.
  return response && response.ok && !response.redirected && response.type === "basic";
}

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return Promise.all([
      cache.addAll(ASSETS),
      fetch(PAGE, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
        if (keep(response)) return cache.put(PAGE, response);
      }).catch(function () {}),
    ]);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function offlineCopy() {
  return caches.open(CACHE).then(function (cache) { return cache.match(PAGE); }).then(function (cached) {
    if (!cached) {
      return new Response(
        '<!doctype html><html lang="ja"><meta charset="utf-8"><meta name="viewport" content="width=device-width">' +
        '<title>圏外</title><body style="font-family:sans-serif;padding:1rem"><h1>電波がありません</h1>' +
        '<p>この端末には、まだ担当患者の一覧が保存されていません。電波のある所で一度開いてください。</p></body></html>',
        { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
    }
    return cached.text().then(function (html) {
      return new Response(html.replace('data-offline="0"', 'data-offline="1"'), {
        status: 200, headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" } });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;  // results and forms go to the network (nurse.js queues them)
  var url = new URL(request.url);
  if (request.mode === "navigate" && isPage(url)) {
    event.respondWith(fetch(request).then(function (response) {
      if (keep(response) && url.search === "") {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(PAGE, copy); });
      }
      return response;
    }).catch(offlineCopy));
    return;
  }
  if (url.origin === self.location.origin && ASSETS.indexOf(url.pathname) !== -1) {
    event.respondWith(fetch(request).then(function (response) {
      if (response.ok) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(url.pathname, copy); });
      }
      return response;
    }).catch(function () {
      return caches.open(CACHE).then(function (cache) { return cache.match(url.pathname); });
    }));
  }
});
