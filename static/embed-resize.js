/*
 * Cost Levers: tell the page that embeds the calculator how tall it is.
 *
 * The "Embed" snippet is <iframe src=".../index.html?embed=1" loading="lazy">.
 * Inside such a frame this script posts
 *     {type: "cost-levers:height", height: <CSS pixels>}
 * to the parent whenever the content height changes, so the parent can size
 * the iframe with no inner scrollbar (see lesson.html for the listening side).
 * With ?embed=1 it also marks <html class="cl-embed"> so the page can drop
 * its full-window layout.
 */
(function () {
  "use strict";
  var MESSAGE = "cost-levers:height";
  var params = new URLSearchParams(window.location.search);
  var embed = params.get("embed") === "1";
  if (embed) document.documentElement.classList.add("cl-embed");
  var framed;
  try { framed = window.parent !== window; } catch (e) { framed = true; }
  if (!framed) return;

  var last = -1;
  var pending = false;

  function boxes(parent, out) {
    // Elements that occupy space in the flow; Bokeh renders each root into a
    // "display: contents" wrapper, which has no box of its own, so look inside.
    Array.prototype.forEach.call(parent.children, function (el) {
      var style = window.getComputedStyle(el);
      if (style.display === "contents") boxes(el, out);
      else if (style.display !== "none" && style.position !== "fixed" &&
               el.tagName !== "SCRIPT") out.push(el);
    });
    return out;
  }

  function contentHeight() {
    // The extent of what is drawn, not of <body> (which may be height: 100%
    // of the frame and would then only ever grow).
    var bottom = 0;
    boxes(document.body, []).forEach(function (el) {
      var rect = el.getBoundingClientRect();
      var margin = parseFloat(window.getComputedStyle(el).marginBottom) || 0;
      bottom = Math.max(bottom, rect.bottom + margin);
    });
    return Math.ceil(bottom + window.scrollY);
  }

  function report() {
    pending = false;
    if (!document.body) return;
    var height = contentHeight();
    if (height > 0 && Math.abs(height - last) >= 1) {
      last = height;
      window.parent.postMessage({type: MESSAGE, height: height}, "*");
    }
  }

  function schedule() {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(report);
    }
  }

  function observe() {
    var resize = new ResizeObserver(schedule);
    var watched = new WeakSet();
    function watchAll() {
      boxes(document.body, []).forEach(function (el) {
        if (!watched.has(el)) {
          watched.add(el);
          resize.observe(el);
        }
      });
      schedule();
    }
    new MutationObserver(watchAll).observe(document.body, {childList: true, subtree: true});
    window.addEventListener("load", watchAll);
    window.addEventListener("resize", schedule);
    watchAll();
  }

  if (document.body) observe();
  else document.addEventListener("DOMContentLoaded", observe);
})();
