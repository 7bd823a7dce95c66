// Progressive: refresh the "arriving now" table every 2 s, ask before a delete.
// The pages work without it (scripts come only from here: the CSP allows no inline code).
(function () {
  document.querySelectorAll("form.confirm").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });
  var box = document.getElementById("arriving");
  if (!box || !window.fetch) return;
  function tick() {
    fetch("/partials/arriving", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) box.innerHTML = html; })
      .catch(function () {})
      .then(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 2000);
})();
