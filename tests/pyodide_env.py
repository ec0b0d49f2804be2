"""Run Python code inside real Pyodide (from node_modules, offline) under Node.

The Node side is ``tests/pyodide/run.mjs``; this module wraps it for tests and
benchmarks (pytest puts ``tests/`` on ``sys.path``; elsewhere, add it)::

    from pyodide_env import ENGINE_PACKAGES, run_in_pyodide
    out = run_in_pyodide("import levers; print(levers.__name__)", ENGINE_PACKAGES)

Each directory in ``packages`` is copied into the Pyodide filesystem under its
own name and made importable (data files included, ``__pycache__`` left out).
Pyodide is loaded once per call (about 1.5 s here), so put loops inside the code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNNER = REPO_ROOT / "tests" / "pyodide" / "run.mjs"
PYODIDE_DIR = REPO_ROOT / "node_modules" / "pyodide"
PYODIDE_WASM = PYODIDE_DIR / "pyodide.asm.wasm"
ALLOW_SKIP_ENV = "COST_LEVERS_ALLOW_SKIP_PYODIDE"
TIMING_PREFIX = "pyodide-timing: "


class PyodideError(RuntimeError):
    """The code run inside Pyodide raised or exited non-zero (or Node failed)."""

    def __init__(self, message: str, *, returncode: int | None, stdout: str, stderr: str):
        super().__init__(message)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def param_dir() -> Path:
    """The directory of the pure-Python ``param`` package installed in this CPython."""
    import param

    return Path(param.__file__).resolve().parent


def engine_packages() -> list[Path]:
    """What the engine needs inside Pyodide: ``levers``, ``hardware_specs`` and ``param``."""
    return [REPO_ROOT / "levers", REPO_ROOT / "hardware_specs", param_dir()]


ENGINE_PACKAGES: list[Path] = engine_packages()


def node_executable() -> str | None:
    return shutil.which("node")


def node_available() -> bool:
    return node_executable() is not None


def pyodide_available() -> bool:
    """True when Node is on PATH and ``npm ci`` has put Pyodide in node_modules."""
    return node_available() and PYODIDE_WASM.is_file()


def skip_allowed() -> bool:
    return os.environ.get(ALLOW_SKIP_ENV) == "1"


def missing_reason() -> str:
    if not node_available():
        return "Node.js is not on PATH; install Node 20+ and run `npm ci` in the repo root"
    return f"{PYODIDE_WASM} is missing; run `npm ci` in {REPO_ROOT}"


def run_in_pyodide_timed(
    code: str,
    packages: Sequence[Path | str] = (),
    timeout: float = 300,
    args: Sequence[str] = (),
) -> tuple[str, dict[str, float]]:
    """Like :func:`run_in_pyodide`, also returning run.mjs's timings.

    The timings are ``load_ms`` (loading Pyodide), ``copy_ms`` (copying packages),
    ``run_ms`` (running ``code``) and ``files`` (how many files were copied).
    """
    node = node_executable()
    if node is None or not PYODIDE_WASM.is_file():
        raise PyodideError(missing_reason(), returncode=None, stdout="", stderr="")
    cmd = [node, str(RUNNER), "--timing"]
    for pkg in packages:
        cmd += ["--package", str(Path(pkg).resolve())]
    cmd += ["--", "-", *args]
    try:
        proc = subprocess.run(
            cmd,
            input=code,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            cwd=REPO_ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        raise PyodideError(
            f"Pyodide run timed out after {timeout} s\n--- stderr ---\n{stderr}",
            returncode=None,
            stdout=stdout,
            stderr=stderr,
        ) from exc
    timings: dict[str, float] = {}
    kept: list[str] = []
    for line in proc.stderr.splitlines(keepends=True):
        if line.startswith(TIMING_PREFIX):
            timings = json.loads(line[len(TIMING_PREFIX) :])
        else:
            kept.append(line)
    stderr = "".join(kept)
    if proc.returncode != 0:
        raise PyodideError(
            f"code run in Pyodide failed (exit status {proc.returncode})\n"
            f"--- stderr ---\n{stderr}--- stdout ---\n{proc.stdout}",
            returncode=proc.returncode,
            stdout=proc.stdout,
            stderr=stderr,
        )
    if stderr:
        sys.stderr.write(stderr)
    return proc.stdout, timings


def run_in_pyodide(
    code: str,
    packages: Sequence[Path | str] = (),
    timeout: float = 300,
    args: Sequence[str] = (),
) -> str:
    """Run ``code`` as ``__main__`` inside Pyodide under Node and return its stdout.

    ``packages`` are package directories to copy in and make importable; ``args``
    become ``sys.argv[1:]``. Raises :class:`PyodideError` (whose message holds the
    Python traceback) when the code raises or exits non-zero, or when Node or
    Pyodide is missing. Anything the code writes to stderr is passed through.
    """
    return run_in_pyodide_timed(code, packages, timeout=timeout, args=args)[0]
