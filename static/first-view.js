/*
 * Cost Levers: an honest first view for every share link.
 *
 * index.html carries the calculator pre-rendered for the engine's defaults.
 * build.py also renders each preset, and each of them with ?embed=1, into
 * <data-folder>/<key>.json.gz (a Bokeh document and its render item,
 * gzipped; a server that sends it decompressed works too); the keys
 * are in this tag's data-keys.  Until the live app (Python in a web worker)
 * has rendered:
 *
 * - ?preset=NAME and/or ?embed=1 (nothing else): the matching pre-rendered
 *   document replaces the default one in the page's root elements, as Panel's
 *   worker handler does with the live document.  The roots stay hidden until
 *   then, so the default scenario never flashes up.
 * - any other key (a scenario override, an unknown preset): the nearest
 *   pre-rendered view is shown dimmed, under a notice that the link's scenario
 *   appears when the calculator is ready.  The dimming goes once the live
 *   document has rendered and applied the link (its first patches have
 *   arrived, or UNDIM_MS after it rendered).
 *
 * Nothing here runs after the live document has rendered.  Phases go to
 * window.__clTimeline ({phase, t}): "prerendered" (the page's own document is
 * drawn), "first-view" (the link's document is drawn), "scenario" (the pending
 * notice is gone).
 */
(function () {
  "use strict";
  var UNDIM_MS = 1500;     // after the live render, if no patch arrives
  var QUIET_MS = 300;      // after the live render, this long without a patch
  var HOLD_MAX_MS = 5000;  // never keep the page hidden longer than this
  var TRUE = ["1", "true", "yes", "on"];
  var FALSE = ["0", "false", "no", "off"];

  var script = document.currentScript;
  var root = document.documentElement;
  var timeline = window.__clTimeline = window.__clTimeline || [];
  function mark(phase) {
    timeline.push({phase: phase, t: performance.now()});
  }

  var folder = script.dataset.folder || "";
  var keys = [];
  try { keys = JSON.parse(script.dataset.keys || "[]"); } catch (e) { keys = []; }

  // What the link asks for.
  var preset = "";
  var embed = false;
  var pending = false;
  var seen = {};
  new URLSearchParams(window.location.search).forEach(function (value, key) {
    if (seen[key]) pending = true;  // a repeated key: let the app decide
    seen[key] = true;
    var v = value.trim().toLowerCase();
    if (key === "preset") preset = value.trim();
    else if (key === "embed" && TRUE.indexOf(v) >= 0) embed = true;
    else if (key === "embed" && FALSE.indexOf(v) >= 0) embed = false;
    else pending = true;
  });
  var known = !preset || keys.indexOf(preset) >= 0;
  if (!known) pending = true;
  var key = (known && preset ? preset : "default") + (embed ? ".embed" : "");
  var swap = key !== "default" && keys.indexOf(key) >= 0;

  var live = false;  // the live document has rendered
  var worker = typeof pyodideWorker === "undefined" ? null : pyodideWorker;  // eslint-disable-line no-undef

  // ---------------------------------------------------------------- pending
  var shownAs = !known || !preset ? "the default scenario" : "the “" + preset + "” preset";
  var pendingNotice = null;

  function fillPending() {
    var state = root.dataset.runtime;
    var down = state === "failed" || state === "stalled";
    var head = down
      ? "This link’s scenario needs the live calculator, which has not started."
      : "Your scenario appears when the calculator is ready.";
    var strong = document.createElement("strong");
    strong.textContent = head;
    pendingNotice.textContent = "";
    pendingNotice.appendChild(strong);
    pendingNotice.appendChild(document.createTextNode(
      (down ? " Dimmed: " : " Dimmed until then: ") + shownAs + ", not this link."));
  }

  function showPending() {
    root.classList.add("cl-pending");
    pendingNotice = document.createElement("div");
    pendingNotice.className = "cl-pending-notice";
    pendingNotice.setAttribute("role", "status");
    fillPending();
    document.body.insertBefore(pendingNotice, document.body.firstChild);
    new MutationObserver(function () {
      if (pendingNotice) fillPending();
    }).observe(root, {attributes: true, attributeFilter: ["data-runtime"]});
  }

  function clearPending() {
    if (!pendingNotice) return;
    root.classList.remove("cl-pending");
    pendingNotice.remove();
    pendingNotice = null;
    mark("scenario");
  }

  if (pending) showPending();

  if (worker) {
    var undim = null;
    worker.addEventListener("message", function (event) {
      var type = (event.data || {}).type;
      if (type === "render") {
        live = true;
        release();
        if (pendingNotice) undim = setTimeout(clearPending, UNDIM_MS);
      } else if (type === "patch" && live && pendingNotice) {
        clearTimeout(undim);
        undim = setTimeout(clearPending, QUIET_MS);
      }
    });
  }

  // ---------------------------------------------------------------- swap
  var held = false;
  function release() {
    if (held) {
      held = false;
      root.classList.remove("cl-first-view-hold");
    }
  }

  function whenDrawn(doc, done) {
    // Poll until `doc` exists and BokehJS reports it idle (every root drawn).
    var start = performance.now();
    (function check() {
      var d = doc();
      if (d && d.is_idle) done(d);
      else if (performance.now() - start > HOLD_MAX_MS) done(null);
      else setTimeout(check, 10);
    })();
  }

  function pageDocument() {
    return window.Bokeh && Bokeh.documents.length ? Bokeh.documents[0] : null;
  }

  function fail(reason) {
    // The page keeps the default document: say so rather than pass it off as the link's.
    console.warn("Cost Levers: first view of " + key + " not shown: " + reason);
    if (!pendingNotice && !live) showPending();
    release();
    mark("first-view");
  }

  function embedLinkDocument(data) {
    if (live) return;
    var els = Array.prototype.slice.call(document.querySelectorAll("[data-root-id]"));
    var item = data.render_items[0];
    if (item.root_ids.length !== els.length) {
      fail(item.root_ids.length + " roots for " + els.length + " elements");
      return;
    }
    // Same steps as Panel's handler for the live document: map the roots onto
    // the page's elements (in document order), drop the drawn views, embed.
    var roots = {};
    item.root_ids.forEach(function (id, i) { roots[id] = els[i].id; });
    item.roots = roots;
    Bokeh.index.roots.map(function (v) { v.remove(); });
    els.forEach(function (el) { el.innerHTML = ""; });
    Bokeh.embed.embed_items(data.docs_json, [item]).then(function (views) {
      var doc = Bokeh.documents[Bokeh.documents.length - 1];
      if (live) {
        // The live document arrived meanwhile and owns the page: take ours away.
        views.forEach(function (vm) { vm.roots.forEach(function (v) { v.remove(); }); });
        return;
      }
      whenDrawn(function () { return doc; }, function () {
        release();
        mark("first-view");
      });
    }, function (e) { fail(String(e)); });
  }

  function readJSON(buffer) {
    var bytes = new Uint8Array(buffer);
    if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) {  // already decompressed by the server
      return JSON.parse(new TextDecoder().decode(bytes));
    }
    if (typeof DecompressionStream === "undefined") {
      throw new Error("this browser cannot decompress gzip");
    }
    var stream = new Blob([buffer]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).json();
  }

  if (swap) {
    held = true;
    root.classList.add("cl-first-view-hold");
    setTimeout(release, HOLD_MAX_MS);
    var request = fetch(folder + key + ".json.gz").then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.arrayBuffer();
    }).then(readJSON);
    whenDrawn(pageDocument, function (doc) {
      if (doc) mark("prerendered");
      request.then(function (data) {
        if (!window.Bokeh) fail("BokehJS is not loaded");
        else embedLinkDocument(data);
      }, function (e) { fail(String(e)); });
    });
  } else {
    whenDrawn(pageDocument, function (doc) {
      if (doc) {
        mark("prerendered");
        mark("first-view");
      }
    });
  }
})();
