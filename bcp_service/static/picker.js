// Type-ahead for long pickers (issue 27.5): a search box above each <select data-typeahead> hides the
// options whose name does not contain what is typed (full-width and half-width alike). Without
// JavaScript the plain <select> works as before.
(function () {
  "use strict";
  function fold(text) { return (text || "").normalize("NFKC").toLowerCase().replace(/\s+/g, ""); }
  document.querySelectorAll("select[data-typeahead]").forEach(function (select) {
    var box = document.createElement("input");
    box.type = "search";
    box.className = "typeahead";
    box.placeholder = "名前の一部で絞り込み";
    box.setAttribute("aria-label", (select.labels && select.labels[0] ? select.labels[0].textContent : "") + "を名前で絞り込み");
    box.setAttribute("aria-controls", select.id);
    select.parentNode.insertBefore(box, select);
    box.addEventListener("input", function () {
      var wanted = fold(box.value);
      Array.prototype.forEach.call(select.options, function (option) {
        var shown = !wanted || option.value === "" || fold(option.textContent).indexOf(wanted) >= 0;
        option.hidden = !shown;
      });
      // One name left: choose it, as a person who typed it expects.
      var left = Array.prototype.filter.call(select.options, function (o) { return !o.hidden && o.value !== ""; });
      if (left.length === 1) { select.value = left[0].value; select.dispatchEvent(new Event("change", {bubbles: true})); }
    });
  });
})();
