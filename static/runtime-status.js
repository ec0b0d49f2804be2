/*
 * Cost Levers: state of the in-browser Python runtime, for the pre-rendered page.
 *
 * The page first shows the calculator as it was rendered at build time, with
 * Panel's loading overlay and the worker's progress messages ("Loading the
 * Python runtime…", "Installing …", "Starting the calculator…").  This script
 * records the state on <html data-runtime="loading|ready|failed"> and, if the
 * runtime cannot be loaded (offline, CDN blocked), removes the overlay and says
 * that the page is a static preview, instead of spinning forever.
 */
(function () {
  "use strict";
  var root = document.documentElement;
  root.dataset.runtime = "loading";
  if (typeof pyodideWorker === "undefined") return;  // eslint-disable-line no-undef
  var worker = pyodideWorker;  // eslint-disable-line no-undef
  var body = document.body;

  function notice(text) {
    var el = document.querySelector(".cl-runtime-notice");
    if (!el) {
      el = document.createElement("div");
      el.className = "cl-runtime-notice";
      el.setAttribute("role", "status");
      body.insertBefore(el, body.firstChild);
    }
    el.textContent = text;
  }

  function failed(stage) {
    if (root.dataset.runtime === "ready") return;
    root.dataset.runtime = "failed";
    body.classList.forEach(function (c) {
      if (c === "pn-loading" || c.indexOf("pn-") === 0) body.classList.remove(c);
    });
    Array.prototype.forEach.call(document.querySelectorAll(".pn-loading-msg"), function (el) {
      el.remove();
    });
    body.classList.add("cl-static");
    notice("Static preview: " + (stage || "Loading the Python runtime") + " failed, so the " +
           "controls are not live. Check the connection and reload the page.");
  }

  worker.addEventListener("message", function (event) {
    var msg = event.data || {};
    if (msg.type === "runtime-error") {
      failed(msg.stage);
    } else if (msg.type === "render") {
      // Panel's handler removes the "pn-loading" class once the live document is shown.
      var watch = new MutationObserver(function () {
        if (!body.classList.contains("pn-loading")) {
          watch.disconnect();
          root.dataset.runtime = "ready";
        }
      });
      watch.observe(body, {attributes: true, attributeFilter: ["class"]});
    }
  });
  worker.addEventListener("error", function () { failed("worker error"); });
  // A failure may have been reported before this script ran.
  worker.postMessage({type: "runtime-status"});
})();
