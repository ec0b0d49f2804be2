"""Benchmark the static site: build time, payload, first-view bytes and time.

    python bench/site.py [--runs N]

Prints:

* build time, cold (empty output folder) and warm (rebuilding over it);
* our own payload: every output file except vendored third-party JS/CSS
  (``vendor/``) and wheels;
* bytes a first visit downloads (offline), ours and Panel's plain
  ``panel convert --to pyodide-worker`` of the same app;
* time from navigation to the pre-rendered waterfall being in the page, in
  Debian's Chromium from localhost (median of N);
* first view per share link: time until each preset's own pre-rendered
  waterfall is on screen (``?preset=NAME``, static/first-view.js), from
  navigation start and from the page's load event (median of N).
  ``--first-view`` builds once and prints only this.
* ``--live``: what the worker downloads before the calculator is interactive,
  by package (Pyodide's core, the Pyodide packages of the start-up set with
  their lock dependencies, the site's wheels), raw and gzip-compressed (what a
  CDN sends), and time to interactive by phase, median of N, against the
  local stand-in for the Pyodide CDN (``tests/live_site.py``) or
  ``COST_LEVERS_PYODIDE_URL``. Package sizes come from the stand-in's files,
  the same versions as the official ones (its compiled wheels are repacked).

A measurement, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import test_build as tb  # noqa: E402  (reuses the site tests' server and browser helpers)
from browser_util import launch_browser  # noqa: E402


def timed_build(out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out)], check=True,
                   capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def own_payload(site: Path) -> tuple[int, list[tuple[int, str]]]:
    files = [p for p in site.rglob("*") if p.is_file()]
    ours = [(p.stat().st_size, p.relative_to(site).as_posix()) for p in files
            if not p.relative_to(site).as_posix().startswith(("vendor/", "wheels/"))
            and p.suffix != ".whl"]
    return sum(n for n, _ in ours), sorted(ours, reverse=True)


def time_to_waterfall(browser, site: Path, runs: int) -> list[float]:
    out = []
    with tb.Served(site) as s:
        for _ in range(runs):
            v = tb.Visit(browser, s.origin, viewport={"width": 1200, "height": 900})
            try:
                v.page.goto(f"{s.origin}/index.html", wait_until="commit")
                v.page.wait_for_function(tb.WATERFALL_JS, timeout=30_000, polling=10)
                v.page.wait_for_selector(".cl-waterfall canvas, canvas", timeout=30_000)
                out.append(v.page.evaluate("performance.now()"))
            finally:
                v.close()
    return out


# ---------------------------------------------------------------- first view per preset

#: The waterfall of the document on screen (the last one BokehJS holds).
LAST_WATERFALL_JS = """() => {
  const docs = (window.Bokeh && Bokeh.documents) || [];
  const m = docs.length ? docs[docs.length - 1].get_model_by_name('waterfall') : null;
  if (!m) return null;
  const v = m.data instanceof Map ? m.data.get('cost_per_day') : m.data.cost_per_day;
  return Array.from(v);
}"""


def first_view_times(browser, site: Path, link: str, runs: int) -> list[tuple[float, float]]:
    """(ms from navigation start, ms from the load event) until ``link``'s first view is drawn.

    The moment is the "first-view" phase that static/first-view.js records once
    the link's own document (or index.html's, for the default) is drawn; each
    run checks that the waterfall then on screen is the engine's for the link.
    """
    import levers

    preset = link.partition("preset=")[2]
    w = levers.waterfall(levers.load_preset(preset) if preset else levers.Scenario())
    want = [st.cost_per_day for st in w.steps] + [w.final_cost_per_day]
    out = []
    with tb.Served(site) as s:
        for _ in range(runs):
            v = tb.Visit(browser, s.origin, viewport={"width": 1280, "height": 900})
            try:
                v.page.goto(f"{s.origin}/index.html{link}", wait_until="load")
                v.page.wait_for_function(
                    "(window.__clTimeline || []).some(x => x.phase === 'first-view')", timeout=30_000)
                got = v.page.evaluate(LAST_WATERFALL_JS)
                if got is None or any(abs(a - b) > 1e-6 * max(1.0, abs(b)) for a, b in zip(got, want, strict=True)):
                    raise SystemExit(f"{link or 'index.html'}: the waterfall on screen is {got}, not {want}")
                shown, load = v.page.evaluate("""() => [
                  window.__clTimeline.find(x => x.phase === 'first-view').t,
                  performance.getEntriesByType('navigation')[0].loadEventStart]""")
                out.append((shown, shown - load))
            finally:
                v.close()
    return out


def print_first_view(browser, site: Path, runs: int) -> None:
    from levers import presets

    print(f"first view per link (median of {runs}; ms from navigation start / from the load event)")
    for link in ["", *(f"?preset={name}" for name in presets.names())]:
        times = first_view_times(browser, site, link, runs)
        nav = statistics.median(t for t, _ in times)
        load = statistics.median(t for _, t in times)
        print(f"  {link or '(default)':24} {nav:6.0f} ms  {load:+6.0f} ms")


CORE = ("pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")


def _gz(path: Path) -> int:
    import zlib

    return len(zlib.compress(path.read_bytes(), 6))


def bytes_to_interactive(site: Path, manifest: dict, mirror: Path) -> list[tuple[str, str, int, int]]:
    """(name, where, bytes, gzip bytes) for each file the worker fetches before the app is live."""
    import json

    lock = json.loads((mirror / "pyodide-lock.json").read_text())["packages"]
    env = manifest["environment"]
    startup = set(env.get("startup") or [*env["wheels"], *env["from_pyodide"]])
    rows = [(f, "Pyodide core", (mirror / f).stat().st_size, _gz(mirror / f)) for f in CORE]
    todo = ["micropip", *(n for n in env["from_pyodide"] if n in startup)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in lock:
            continue
        seen.add(name)
        todo += lock[name].get("depends", [])
        f = mirror / lock[name]["file_name"]
        rows.append((name, "Pyodide package", f.stat().st_size, _gz(f)))
    for name, rel in env["wheels"].items():
        if name in startup:
            f = site / rel
            rows.append((name, "site wheel", f.stat().st_size, _gz(f)))
    return sorted(rows, key=lambda r: -r[2])


def print_live(runs: int, build_args: tuple[str, ...] = ()) -> None:
    """Bytes to interactive by package, and time to interactive by phase (median of ``runs``)."""
    from live_site import LiveSite

    with tempfile.TemporaryDirectory() as tmp, LiveSite(Path(tmp) / "dist", *build_args) as live:
        if live.mirror is None:
            raise SystemExit("bytes by package need the local stand-in's files: unset COST_LEVERS_PYODIDE_URL")
        rows = bytes_to_interactive(live.out, live.manifest, live.mirror)
        total, total_gz = sum(r[2] for r in rows), sum(r[3] for r in rows)
        print(f"bytes to interactive: {total:,} raw, {total_gz:,} gzip ({len(rows)} files)")
        for name, where, n, gz in rows:
            print(f"  {name:28} {where:16} {n:>11,} {gz:>11,}")
        env = live.manifest["environment"]
        deferred = sorted(n for n in (*env["wheels"], *env["from_pyodide"]) if n not in set(env.get("startup") or ()))
        print(f"installed once live (not counted): {', '.join(deferred) or 'none'}")
        phases: dict[str, list[float]] = {}
        with launch_browser() as browser:
            for _ in range(runs):
                page = browser.new_page()
                page.goto(f"{live.origin}/index.html")
                page.wait_for_function("document.documentElement.dataset.runtime === 'ready'", timeout=300_000)
                for phase, t in ((e["phase"], e["t"]) for e in page.evaluate("window.__clTimeline")):
                    phases.setdefault(phase, []).append(t)
                page.close()
        print(f"time to interactive by phase ({live.source}), ms from navigation, median of {runs}:")
        for phase, ts in sorted(phases.items(), key=lambda kv: statistics.median(kv[1])):
            print(f"  {phase:48} {statistics.median(ts):8.0f}  (min {min(ts):.0f}, max {max(ts):.0f})")
        cold = total_gz * 8 / 50e6
        print(f"estimated cold download at 50 Mbit/s: {cold:.1f} s for {total_gz / 1e6:.1f} MB compressed")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--first-view", action="store_true", help="only the first view per preset")
    ap.add_argument("--live", action="store_true", help="only bytes and time to interactive, live")
    ap.add_argument("--source-only", action="store_true",
                    help="with --live: build the site with build.py --source-only (no bytecode), to compare")
    args = ap.parse_args()
    if args.live:
        print_live(args.runs, ("--source-only",) if args.source_only else ())
        return 0

    if args.first_view:
        with tempfile.TemporaryDirectory() as tmp, launch_browser() as browser:
            site = Path(tmp) / "dist"
            timed_build(site)
            print_first_view(browser, site, args.runs)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        site = tmp / "dist"
        cold = timed_build(site)
        warm = timed_build(site)
        print(f"build time         cold {cold:6.1f} s   warm {warm:6.1f} s")
        total, files = own_payload(site)
        print(f"own payload        {total:,} bytes (target < 300,000); largest: "
              + ", ".join(f"{name} {n:,}" for n, name in files[:4]))

        plain = tmp / "plain"
        subprocess.run([sys.executable, "-m", "panel", "convert", str(tb.APP), "--to",
                        "pyodide-worker", "--out", str(plain)], check=True, capture_output=True,
                       cwd=tb.APP.parent)
        with launch_browser() as browser:
            ours, _ = tb.first_view_bytes(browser, site, "index.html")
            theirs, _ = tb.first_view_bytes(browser, plain, f"{tb.APP.stem}.html",
                                            tb._plain_cdn_to_local)
            print(f"first-view bytes   ours {ours:,}   panel convert {theirs:,}   "
                  f"({(ours - theirs) / theirs:+.1%})")
            times = time_to_waterfall(browser, site, args.runs)
            print_first_view(browser, site, args.runs)
        print(f"pre-rendered waterfall on screen: median {statistics.median(times):.0f} ms "
              f"(min {min(times):.0f}, max {max(times):.0f}, n={len(times)}; target < 1,500 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
