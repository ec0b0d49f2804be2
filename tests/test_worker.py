"""The built site's worker: its Python compiles as Pyodide's, and a dry run makes the app live.

The site is built once for the module. The dry run (``tests/worker_dryrun.py``)
executes the exact Python the worker hands to Pyodide, in a fresh CPython with
stand-ins for the browser-only modules, and only the distributions the worker
installs importable. Expectations come from the engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pyodide_env import run_in_pyodide
from worker_dryrun import load_build

import levers

REPO_ROOT = Path(__file__).resolve().parent.parent
DRYRUN = REPO_ROOT / "tests" / "worker_dryrun.py"
build = load_build()


@pytest.fixture(scope="module")
def site(default_site) -> Path:
    return default_site


@pytest.fixture(scope="module")
def worker_sources(site) -> list[tuple[int, str]]:
    name = json.loads((site / "manifest.json").read_text())["worker"]
    return build.worker_python((site / name).read_text(encoding="utf-8"))


def dry_run(site: Path, search: str = "") -> dict:
    proc = subprocess.run([sys.executable, str(DRYRUN), str(site), "--search", search],
                          capture_output=True, text=True, timeout=300, cwd=site)
    assert proc.returncode == 0, f"the worker's Python failed in the dry run ({search or 'no query'}):\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def engine_costs(scenario: levers.Scenario) -> list[float]:
    w = levers.waterfall(scenario)
    return [st.cost_per_day for st in w.steps] + [w.final_cost_per_day]


# --------------------------------------------------------------------------- compiling


def test_worker_hands_pyodide_the_app_entry_and_panel_messages(worker_sources):
    texts = [src for _, src in worker_sources]
    assert any("micropip.install" in t for t in texts)
    main = next(t for t in texts if "write_doc" in t)
    assert 'runpy.run_module("app.main"' in main  # the app module is run, not pasted into the worker
    assert "from __future__" not in main
    assert any("state.location.param.update" in t for t in texts)


def test_worker_python_compiles_in_pyodide_python_313(worker_sources):
    """Compiled by Pyodide's own CPython 3.13 (under Node), as runPythonAsync would."""
    sources = [src for _, src in worker_sources]
    code = (
        "import ast, json, sys, textwrap\n"
        f"sources = json.loads({json.dumps(json.dumps(sources))})\n"
        "for s in sources:\n"
        "    compile(textwrap.dedent(s), 'main.js', 'exec', flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)\n"
        "print('compiled', len(sources), sys.version_info[:2])\n"
    )
    out = run_in_pyodide(code, [])
    assert f"compiled {len(sources)} (3, 13)" in out


def test_build_check_names_the_file_and_line_of_python_that_does_not_compile():
    """The converter's layout with an app pasted in after its preamble: the old failure."""
    app = '"""Doc."""\nfrom __future__ import annotations\nx = 1\n'
    code = "\nimport asyncio\n\ninit_doc()\n" + app + "\nawait write_doc()"
    escaped = code.encode("unicode_escape").decode().replace("`", r"\`")
    worker = f"const a = 1;\nconst b = 2;\nawait self.pyodide.runPythonAsync(`{escaped}`)\n"
    with pytest.raises(build.BuildError) as e:
        build.check_worker_python("main.js", worker)
    msg = str(e.value)
    assert "main.js, line 3, Python line 6" in msg
    assert "from __future__ imports must occur at the beginning of the file" in msg
    assert "from __future__ import annotations" in msg


def test_worker_python_reader_undoes_template_literal_escapes():
    src = 'print("a`b", "\\\\n", "é", "\u2713")\n'
    escaped = src.encode("unicode_escape").decode().replace("`", r"\`")
    [(line, text)] = build.worker_python(f"x\nrunPythonAsync(`{escaped}`)")
    assert (line, text) == (2, src)
    # Read as JavaScript reads it: \U is no template-literal escape, so a character
    # outside the BMP pasted by the converter arrives as "U0001f600" (why the app
    # module is run from the wheel rather than pasted).
    [(_, text)] = build.worker_python("runPythonAsync(`" + "😀".encode("unicode_escape").decode() + "`)")
    assert text == "U0001f600"


def test_app_outside_the_wheel_packages_is_refused(tmp_path):
    stray = tmp_path / "app.py"
    stray.write_text("print(1)\n")
    with pytest.raises(build.BuildError, match="not inside the project"):
        build.app_module(stray, REPO_ROOT)
    assert build.app_module(REPO_ROOT / "app" / "main.py", REPO_ROOT) == "app.main"


# --------------------------------------------------------------------------- dry run


@pytest.mark.parametrize(
    "search",
    ["", "?preset=lesson", "?preset=chatbot&hardware=mi355x&cache_hit_rate=0.5&weights=fp4"],
    ids=["default", "preset", "overrides"],
)
def test_dry_run_renders_the_engine_numbers(site, search):
    report = dry_run(site, search)
    assert report["waterfall"] is not None, "no ColumnDataSource named 'waterfall' in the live document"
    query = dict(p.split("=", 1) for p in search.lstrip("?").split("&") if p)
    preset = query.pop("preset", None)
    expected = levers.load_preset(preset, **query) if preset else levers.Scenario()
    assert report["waterfall"]["cost_per_day"] == pytest.approx(engine_costs(expected), rel=1e-9)


def test_dry_run_imports_only_what_the_worker_installs(site):
    report = dry_run(site)
    assert set(report["imported"]) <= set(report["installed"])
    assert {"panel", "bokeh", "cost-levers", "param"} <= set(report["imported"])
    # Not on the critical path: Pyodide's stand-in CDN used by the live test has neither.
    assert "pandas" not in report["installed"], "the worker installs pandas at start-up"
    assert "nh3" not in report["installed"], "the worker installs nh3 at start-up"


def test_dry_run_fails_on_an_import_the_worker_does_not_install(site, tmp_path):
    """The gate is real: a worker that leaves out a package the app imports fails the dry run."""
    name = json.loads((site / "manifest.json").read_text())["worker"]
    broken = tmp_path / "site"
    broken.mkdir()
    (broken / "manifest.json").write_text((site / "manifest.json").read_text())
    js = (site / name).read_text(encoding="utf-8")
    (broken / name).write_text(js.replace("'jinja2', ", ""), encoding="utf-8")
    assert "'jinja2'" not in (broken / name).read_text(encoding="utf-8")
    proc = subprocess.run([sys.executable, str(DRYRUN), str(broken)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode != 0
    assert "No module named 'jinja2'" in proc.stderr
    assert "imports refused, not installed by the worker: jinja2" in proc.stderr


def test_app_has_no_component_that_needs_nh3_at_start_up():
    """ReactiveHTML components (pn.FlexBox among them) sanitize their text with nh3 when rendered."""
    from panel.reactive import ReactiveHTML

    from app.main import create_app

    found = create_app().select(ReactiveHTML)
    assert not found, f"{sorted({type(x).__name__ for x in found})} would make the worker download nh3"
