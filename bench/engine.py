"""Benchmark: one full recompute (the waterfall plus the hardware table), and
one full Shapley attribution (all 32 on/off subsets of the five levers).

Runs the same timing loops in CPython and, under Node, in Pyodide (the npm
package pinned in package.json), and prints min / median / max per run.
Targets: recompute median under 1 ms in CPython and under 3 ms in Pyodide;
attribution median under 30 ms in CPython.

    python bench/engine.py [--repeat N] [--preset NAME]

This is a measurement, not a test: it never fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

LOOP = """
import json, sys, time
import levers
preset, repeat = sys.argv[1], int(sys.argv[2])
s = levers.load_preset(preset)
if len(sys.argv) > 3 and sys.argv[3] == "attribution":
    from levers.attribution import attribution
    def full():
        attribution(s)
else:
    def full():
        levers.waterfall(s)
        levers.training_table()
for _ in range(20):  # warm caches (spec files, models)
    full()
times = []
for _ in range(repeat):
    t0 = time.perf_counter()
    full()
    times.append((time.perf_counter() - t0) * 1e3)
print(json.dumps(times))
"""


def summary(name: str, times: list[float], target_ms: float | None) -> str:
    med = statistics.median(times)
    verdict = "meets" if target_ms is not None and med < target_ms else "misses"
    tail = "no target" if target_ms is None else f"{verdict} the {target_ms:g} ms target"
    return (f"{name:8s} n={len(times):4d}  min {min(times):7.3f} ms  median {med:7.3f} ms  "
            f"max {max(times):7.3f} ms  ({tail})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=500)
    ap.add_argument("--preset", default="chatbot")
    args = ap.parse_args()

    proc = subprocess.run([sys.executable, "-c", LOOP, args.preset, str(args.repeat)],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    print(summary("CPython", json.loads(proc.stdout), 1.0))
    proc = subprocess.run([sys.executable, "-c", LOOP, args.preset, str(max(args.repeat // 10, 20)),
                           "attribution"], capture_output=True, text=True, cwd=ROOT, check=True)
    print(summary("CPython", json.loads(proc.stdout), 30.0) + "  [attribution]")

    from pyodide_env import ENGINE_PACKAGES, missing_reason, pyodide_available, run_in_pyodide

    if not pyodide_available():
        print(f"Pyodide  skipped: {missing_reason()}")
        return 0
    out = run_in_pyodide(LOOP, ENGINE_PACKAGES, args=[args.preset, str(args.repeat)])
    print(summary("Pyodide", json.loads(out), 3.0))
    out = run_in_pyodide(LOOP, ENGINE_PACKAGES, args=[args.preset, str(max(args.repeat // 10, 20)), "attribution"])
    print(summary("Pyodide", json.loads(out), None) + "  [attribution]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
