"""Benchmark: one full recompute (the waterfall plus the hardware table).

Runs the same timing loop in CPython and, under Node, in Pyodide (the npm
package pinned in package.json), and prints min / median / max per recompute.
Targets: median under 1 ms in CPython and under 3 ms in Pyodide.

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


def summary(name: str, times: list[float], target_ms: float) -> str:
    med = statistics.median(times)
    verdict = "meets" if med < target_ms else "misses"
    return (f"{name:8s} n={len(times):4d}  min {min(times):7.3f} ms  median {med:7.3f} ms  "
            f"max {max(times):7.3f} ms  ({verdict} the {target_ms:g} ms target)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=500)
    ap.add_argument("--preset", default="chatbot")
    args = ap.parse_args()

    proc = subprocess.run([sys.executable, "-c", LOOP, args.preset, str(args.repeat)],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    print(summary("CPython", json.loads(proc.stdout), 1.0))

    from pyodide_env import ENGINE_PACKAGES, missing_reason, pyodide_available, run_in_pyodide

    if not pyodide_available():
        print(f"Pyodide  skipped: {missing_reason()}")
        return 0
    out = run_in_pyodide(LOOP, ENGINE_PACKAGES, args=[args.preset, str(args.repeat)])
    print(summary("Pyodide", json.loads(out), 3.0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
