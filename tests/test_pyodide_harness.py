"""Tests of the Pyodide-under-Node harness itself (tests/pyodide/run.mjs, pyodide_env).

These never skip silently: without ``npm ci`` they fail, unless
COST_LEVERS_ALLOW_SKIP_PYODIDE=1 is set.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import param
import pytest
from pyodide_env import (
    ALLOW_SKIP_ENV,
    ENGINE_PACKAGES,
    REPO_ROOT,
    PyodideError,
    missing_reason,
    param_dir,
    pyodide_available,
    run_in_pyodide,
    run_in_pyodide_timed,
    skip_allowed,
)

pytestmark = pytest.mark.pyodide


@pytest.fixture(autouse=True)
def _require_pyodide() -> None:
    if pyodide_available():
        return
    reason = missing_reason()
    if skip_allowed():
        pytest.skip(f"{reason} ({ALLOW_SKIP_ENV}=1)")
    pytest.fail(f"{reason}. Set {ALLOW_SKIP_ENV}=1 to skip these tests instead.", pytrace=False)


def test_npm_lock_pins_the_pyodide_panel_targets() -> None:
    """package.json, package-lock.json, node_modules and Panel all agree on Pyodide's version."""
    from panel.io.convert import PYODIDE_VERSION

    want = PYODIDE_VERSION.removeprefix("v")
    manifest = json.loads((REPO_ROOT / "package.json").read_text())
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    installed = json.loads((REPO_ROOT / "node_modules/pyodide/package.json").read_text())
    assert manifest["devDependencies"]["pyodide"] == want
    assert lock["packages"]["node_modules/pyodide"]["version"] == want
    assert installed["version"] == want


def test_python_inside_is_3_13() -> None:
    out = run_in_pyodide("import sys; print(sys.platform, *sys.version_info[:3])")
    platform, major, minor, _micro = out.split()
    assert platform == "emscripten"
    assert (int(major), int(minor)) == (3, 13)


def test_param_is_importable_and_matches_cpython() -> None:
    code = textwrap.dedent(
        """
        import param

        class P(param.Parameterized):
            x = param.Number(1.5, bounds=(0, 10))

        p = P()
        p.x = 7
        try:
            p.x = 11
        except ValueError:
            print("bounds-enforced")
        print(param.__version__, p.x, param.__file__)
        """
    )
    lines = run_in_pyodide(code, [param_dir()]).splitlines()
    assert lines[0] == "bounds-enforced"
    version, value, where = lines[1].split()
    assert version == param.__version__
    assert float(value) == 7
    assert where == "/home/pyodide/src/param/__init__.py"  # ours, not a Pyodide build's


def test_tomllib_and_importlib_resources_read_package_data(tmp_path: Path) -> None:
    pkg = tmp_path / "tinypkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("NAME = 'tiny'\n")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "data" / "gpu.toml").write_text('[gpu]\nname = "H100"\nhbm_gb = 80\nbw = 3.35\n')
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "junk.pyc").write_bytes(b"not bytecode")
    code = textwrap.dedent(
        """
        import importlib.resources, json, tomllib
        import tinypkg

        res = importlib.resources.files("tinypkg.data") / "gpu.toml"
        with res.open("rb") as f:
            doc = tomllib.load(f)
        names = sorted(p.name for p in importlib.resources.files("tinypkg").iterdir())
        print(json.dumps({"name": tinypkg.NAME, "doc": doc, "entries": names}))
        """
    )
    got = json.loads(run_in_pyodide(code, [pkg]))
    assert got["name"] == "tiny"
    assert got["doc"] == {"gpu": {"name": "H100", "hbm_gb": 80, "bw": 3.35}}
    assert got["entries"] == ["__init__.py", "data"]  # __pycache__ was not copied


def test_exception_raises_with_traceback() -> None:
    code = "def boom():\n    raise ValueError('kaboom 42')\n\nprint('before')\nboom()\n"
    with pytest.raises(PyodideError) as info:
        run_in_pyodide(code)
    err = info.value
    assert err.returncode == 1
    assert err.stdout == "before\n"
    message = str(err)
    assert "Traceback (most recent call last):" in message
    assert "in boom" in message
    assert "raise ValueError('kaboom 42')" in message
    assert "ValueError: kaboom 42" in message


def test_sys_exit_status_and_argv_pass_through() -> None:
    assert run_in_pyodide("import sys; print(sys.argv[1:])", args=["a", "b c"]) == "['a', 'b c']\n"
    assert run_in_pyodide("import sys; sys.exit(0)") == ""
    with pytest.raises(PyodideError) as info:
        run_in_pyodide("import sys; print('partial'); sys.exit(3)")
    assert info.value.returncode == 3
    assert info.value.stdout == "partial\n"


def test_offline_no_package_downloads() -> None:
    """Packages outside the stdlib zip are not fetched: the import just fails."""
    code = textwrap.dedent(
        """
        import sys
        try:
            import micropip
        except ImportError:
            print("no-micropip")
        print("numpy" in sys.modules)
        """
    )
    assert run_in_pyodide(code).split() == ["no-micropip", "False"]


def test_engine_packages_load_and_one_load_serves_many_runs() -> None:
    """The engine's packages copy in, and a loop inside one script amortises Pyodide's load."""
    code = textwrap.dedent(
        """
        import time, param

        class Knob(param.Parameterized):
            x = param.Number(0.0)

        k = Knob()
        t = time.perf_counter()
        for i in range(2000):
            k.x = float(i)
        print(k.x, (time.perf_counter() - t) * 1000)
        """
    )
    out, timings = run_in_pyodide_timed(code, ENGINE_PACKAGES)
    value, _elapsed_ms = out.split()
    assert float(value) == 1999.0
    assert set(timings) == {"load_ms", "copy_ms", "run_ms", "files"}
    assert timings["files"] >= 10
    assert 0 < timings["load_ms"] < 60_000
