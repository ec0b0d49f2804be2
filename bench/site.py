"""Benchmark the static site: build time, payload, first-view bytes and time.

    python bench/site.py [--runs N]

Prints:

* build time, cold (empty output folder) and warm (rebuilding over it);
* our own payload: every output file except vendored third-party JS/CSS
  (``vendor/``) and wheels;
* bytes a first visit downloads (offline), ours and Panel's plain
  ``panel convert --to pyodide-worker`` of the same app;
* time from navigation to the pre-rendered waterfall being in the page, in
  Debian's Chromium from localhost (median of N).

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

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
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=tb.CHROMIUM, args=tb.CHROMIUM_ARGS)
            ours, _ = tb.first_view_bytes(browser, site, "index.html")
            theirs, _ = tb.first_view_bytes(browser, plain, f"{tb.APP.stem}.html",
                                            tb._plain_cdn_to_local)
            print(f"first-view bytes   ours {ours:,}   panel convert {theirs:,}   "
                  f"({(ours - theirs) / theirs:+.1%})")
            times = time_to_waterfall(browser, site, args.runs)
            browser.close()
        print(f"pre-rendered waterfall on screen: median {statistics.median(times):.0f} ms "
              f"(min {min(times):.0f}, max {max(times):.0f}, n={len(times)}; target < 1,500 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
