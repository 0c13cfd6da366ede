// The print view's button (inline handlers are not allowed by the page's Content-Security-Policy).
document.addEventListener("click", function (e) {
  if (e.target && e.target.hasAttribute("data-print")) window.print();
});
