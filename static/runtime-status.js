/*
 * Cost Levers: state of the in-browser Python runtime, for the pre-rendered page.
 *
 * The page first shows the calculator as it was rendered at build time, with
 * Panel's loading overlay and the worker's progress messages ("Loading the
 * Python runtime…", "Installing …", "Starting the calculator…").  This script
 * records the state on <html data-runtime="loading|stalled|failed|ready"> and:
 *
 * - if the runtime cannot be loaded (offline, CDN blocked), removes the overlay
 *   and says that the page is a static preview, with a Retry button;
 * - if the worker sends nothing for STALL_MS (a request that never completes,
 *   e.g. a filtered network), does the same instead of spinning forever; should
 *   the runtime get there after all, the notice goes and the page goes live;
 * - keeps a timeline of the runtime's phases in window.__clTimeline, one
 *   {phase, t} per worker status message (the phase is the message), then
 *   "render" (the live document arrived) and "ready" (it is on screen); t is
 *   performance.now(), milliseconds since the page's navigation started.
 *
 * STALL_MS can be shortened for tests by setting window.__clStallMs before
 * this script runs.
 */
(function () {
  "use strict";
  var STALL_MS = 20000;
  var root = document.documentElement;
  var timeline = window.__clTimeline = window.__clTimeline || [];
  function mark(phase) {
    timeline.push({phase: phase, t: performance.now()});
  }

  root.dataset.runtime = "loading";
  if (typeof pyodideWorker === "undefined") return;  // eslint-disable-line no-undef
  var worker = pyodideWorker;  // eslint-disable-line no-undef
  var body = document.body;
  var stallMs = Number(window.__clStallMs) > 0 ? Number(window.__clStallMs) : STALL_MS;
  var stallTimer = null;
  var lastStep = "";

  function notice(text) {
    var el = document.querySelector(".cl-runtime-notice");
    if (!el) {
      el = document.createElement("div");
      el.className = "cl-runtime-notice";
      el.setAttribute("role", "status");
      var msg = document.createElement("span");
      msg.className = "cl-runtime-notice-text";
      var retry = document.createElement("button");
      retry.type = "button";
      retry.className = "cl-retry";
      retry.textContent = "Retry";
      retry.addEventListener("click", function () { window.location.reload(); });
      el.appendChild(msg);
      el.appendChild(retry);
      body.insertBefore(el, body.firstChild);
    }
    el.querySelector(".cl-runtime-notice-text").textContent = text;
  }

  function staticPreview() {
    // Panel's overlay hides the page and stops it scrolling: take it away.
    Array.prototype.slice.call(body.classList).forEach(function (c) {
      if (c.indexOf("pn-") === 0) body.classList.remove(c);
    });
    Array.prototype.forEach.call(document.querySelectorAll(".pn-loading-msg"), function (el) {
      el.remove();
    });
    body.classList.add("cl-static");
  }

  function failed(stage, advice) {
    var state = root.dataset.runtime;
    if (state === "ready" || state === "failed") return;
    clearTimeout(stallTimer);
    root.dataset.runtime = "failed";
    mark("failed");
    staticPreview();
    notice("Static preview: " + (stage || "Loading the Python runtime") + " failed, so the " +
           "controls are not live. " + (advice || "Check the connection and retry."));
  }

  function stalled() {
    if (root.dataset.runtime !== "loading") return;
    root.dataset.runtime = "stalled";
    mark("stalled");
    staticPreview();
    notice("Static preview: the Python runtime has not answered for " +
           Math.round(stallMs / 1000) + " s, so the controls are not live. It may still arrive.");
  }

  function progress() {
    clearTimeout(stallTimer);
    if (root.dataset.runtime === "loading") stallTimer = setTimeout(stalled, stallMs);
  }

  function ready() {
    if (root.dataset.runtime === "ready") return;
    clearTimeout(stallTimer);
    root.dataset.runtime = "ready";
    mark("ready");
    body.classList.remove("cl-static");
    var el = document.querySelector(".cl-runtime-notice");
    if (el) el.remove();
  }

  worker.addEventListener("message", function (event) {
    var msg = event.data || {};
    if (msg.type === "status") {
      lastStep = String(msg.msg || "");
      mark(lastStep);
      if (root.dataset.runtime === "stalled") {
        notice("Static preview for now: the Python runtime is still on its way (" + lastStep + ")");
      }
      progress();
    } else if (msg.type === "runtime-error") {
      failed(msg.stage, msg.advice);
    } else if (msg.type === "render") {
      mark("render");
      clearTimeout(stallTimer);
      // Panel's handler sets pyodideWorker.jsdoc once the live document is on screen.
      var poll = setInterval(function () {
        if (worker.jsdoc) {
          clearInterval(poll);
          ready();
        }
      }, 25);
    }
  });
  worker.addEventListener("error", function () { failed("Starting the Python worker"); });
  progress();
  // A failure may have been reported before this script ran.
  worker.postMessage({type: "runtime-status"});
})();
