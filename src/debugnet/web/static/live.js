// Progressive: refresh the "arriving now" table every 2 s; the page works without it.
(function () {
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
