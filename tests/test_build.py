"""Tests of build.py: the static Pyodide site compiled from the Panel app.

The site is built once per module into a temporary folder (and once more with
--pwa for the PWA tests).  Browser tests drive Debian's Chromium through
Playwright with every request outside localhost refused, so they show what a
visitor sees when the Pyodide CDN cannot be reached: the pre-rendered page.
A missing Chromium fails them in CI and skips them elsewhere (tests/conftest.py).

Development knobs (environment):
  COST_LEVERS_BUILD_APP      app to compile instead of app/main.py
  COST_LEVERS_BUILD_PROJECT  project folder to build the wheel from (default: repo)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from browser_util import JS_WATERFALL as WATERFALL_JS
from browser_util import Visit, free_port
from live_site import Served
from worker_dryrun import load_build

REPO_ROOT = Path(__file__).resolve().parent.parent


build = load_build()

APP = Path(os.environ.get("COST_LEVERS_BUILD_APP", REPO_ROOT / "app" / "main.py"))
PROJECT = Path(os.environ.get("COST_LEVERS_BUILD_PROJECT", REPO_ROOT))
ARTIFACTS = REPO_ROOT / "test-artifacts"  # screenshots land here when the folder exists
BUILD_TIMEOUT = 600


def run_build(*args: str, timeout: float = BUILD_TIMEOUT) -> subprocess.CompletedProcess:
    """python build.py ... in a fresh interpreter (the build configures Panel on import)."""
    cmd = [sys.executable, str(REPO_ROOT / "build.py"), *args]
    if PROJECT != REPO_ROOT:
        cmd += ["--project", str(PROJECT)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)


def build_site(out: Path, *extra: str) -> Path:
    if not APP.is_file():
        pytest.skip(f"{APP} does not exist yet: nothing to compile")
    proc = run_build(str(APP), "--out", str(out), *extra)
    assert proc.returncode == 0, f"build.py failed:\n{proc.stdout}\n{proc.stderr}"
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory, request) -> Path:
    if APP == REPO_ROOT / "app" / "main.py" and PROJECT == REPO_ROOT:
        return request.getfixturevalue("default_site")  # built once for the whole run
    return build_site(tmp_path_factory.mktemp("site") / "dist")


@pytest.fixture(scope="module")
def manifest(site) -> dict:
    return json.loads((site / "manifest.json").read_text())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def worker_env_spec(worker_js: str) -> tuple[list[str], str]:
    """The list handed to micropip.install in the worker, and the call's other arguments."""
    m = re.search(r"micropip\.install\(\[(.*?)\](.*?)\)", worker_js, re.S)
    assert m, "the worker does not call micropip.install([...])"
    return re.findall(r"'([^']*)'", m.group(1)), m.group(2)


# --------------------------------------------------------------------------- files


def test_expected_files_exist(site, manifest):
    worker = manifest["worker"]
    expected = [
        "index.html",
        worker,
        "manifest.json",
        "lesson.html",
        "embed-resize.js",
        "runtime-status.js",
        "site.css",
        f"wheels/cost_levers-{manifest['versions']['cost-levers']}-py3-none-any.whl",
        f"vendor/panel/{manifest['versions']['panel']}/dist/panel.min.js",
        f"vendor/bokeh/release/bokeh-{manifest['versions']['bokeh']}.min.js",
    ]
    missing = [p for p in expected if not (site / p).is_file()]
    assert not missing, f"missing from the site: {missing}"
    assert not (site / "_build").exists(), "build templates must not be published"
    leftovers = [p.name for p in site.parent.iterdir() if p.name.startswith(f".{site.name}.")]
    assert not leftovers, f"temporary build folders left behind: {leftovers}"


def test_manifest_lists_every_file_with_size_and_sha256(site, manifest):
    on_disk = {p.relative_to(site).as_posix(): p for p in site.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert set(manifest["files"]) == set(on_disk)
    for rel, entry in manifest["files"].items():
        assert entry["size"] == on_disk[rel].stat().st_size, rel
        assert entry["sha256"] == sha256(on_disk[rel]), rel


def test_manifest_versions(manifest):
    import bokeh
    import panel
    from panel.io import convert

    versions = manifest["versions"]
    assert versions["panel"] == panel.__version__
    assert versions["bokeh"] == bokeh.__version__
    assert versions["pyodide"] == convert.PYODIDE_VERSION.lstrip("v")
    assert versions["cost-levers"] == "0.1.0"


def test_wheel_holds_our_packages(site, manifest):
    wheel = site / manifest["environment"]["wheels"]["cost-levers"]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    for package in ("levers/__init__.py", "app/", "hardware_specs/"):
        assert any(n.startswith(package) for n in names), f"{package} not in {wheel.name}"
    assert any(re.match(r"hardware_specs/.+\.toml$", n) for n in names), "no hardware specs data"


def test_wheel_installs_into_clean_venv_and_runs_cli(site, manifest, tmp_path):
    wheel = site / manifest["environment"]["wheels"]["cost-levers"]
    with zipfile.ZipFile(wheel) as zf:
        if "levers/__main__.py" not in zf.namelist():
            pytest.skip("levers has no __main__ yet: `python -m levers` does not exist")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # Offline: the site carries param, the engine's only dependency.
    install = subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            str(site / "wheels"),
            "--disable-pip-version-check",
            "--quiet",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    run = subprocess.run(
        [str(py), "-m", "levers", "waterfall", "--preset", "lesson"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip(), "the waterfall command printed nothing"


def test_start_up_modules_ship_as_bytecode_with_a_true_record(site, manifest):
    """Modules imported before the first render are bytecode for Pyodide's CPython, the
    rest stay source, and every wheel's RECORD still matches its files."""
    import base64
    import csv

    bytecode = manifest["environment"]["bytecode"]
    assert bytecode["tag"] == "cpython-313"  # Pyodide 0.29.3 runs CPython 3.13
    wheels = manifest["environment"]["wheels"]
    assert bytecode["modules"][Path(wheels["panel"]).name] > 100
    for name, rel in wheels.items():
        with zipfile.ZipFile(site / rel) as zf:
            names = set(zf.namelist())
            record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
            rows = list(csv.reader(io.StringIO(zf.read(record_name).decode())))
            assert {r[0] for r in rows} == names, name
            for path, digest, size in rows:
                if path == record_name:
                    continue
                data = zf.read(path)
                want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert (digest, int(size)) == (want, len(data)), f"{name}: {path}"
            pycs = [n for n in names if n.endswith(".pyc")]
            assert len(pycs) == bytecode["modules"].get(Path(rel).name, 0), name
            if name in build.KEEP_SOURCE:  # bytecode beside the source, where other CPythons ignore it
                assert all(re.fullmatch(r"(.+/)?__pycache__/\w+\.cpython-313\.pyc", n) for n in pycs), name
                assert {n.replace("__pycache__/", "").replace(".cpython-313.pyc", ".py") for n in pycs} <= names
            else:  # bytecode in place of the source
                assert not [n for n in pycs if "__pycache__/" in n], name
                assert not {n[:-1] for n in pycs} & names, f"{name} ships both source and bytecode"
            for n in pycs:
                assert zf.read(n)[:4] == PY313_MAGIC, f"{name}: {n}"
    with zipfile.ZipFile(site / wheels["panel"]) as zf:
        names = set(zf.namelist())
    assert "panel/__init__.pyc" in names and "panel/__init__.py" not in names
    assert any(n.endswith(".py") for n in names)  # modules imported later stay source
    assert bytecode["modules"][Path(wheels["cost-levers"]).name] > 20


#: importlib.util.MAGIC_NUMBER of CPython 3.13 (3571, Lib/importlib/_bootstrap_external.py).
PY313_MAGIC = (3571).to_bytes(2, "little") + b"\r\n"


@pytest.mark.pyodide
def test_engine_imported_from_the_sites_bytecode_in_pyodide_matches_cpython(site, manifest, tmp_path):
    """The site's bytecode of the engine runs in real Pyodide with no source beside it
    and gives CPython's numbers. (The test runner copies no ``__pycache__``, so each
    module's bytecode is put where its source was, the layout the other wheels ship.)"""
    from pyodide_env import missing_reason, pyodide_available, run_in_pyodide

    if not pyodide_available():
        pytest.fail(missing_reason(), pytrace=False)
    wheels = manifest["environment"]["wheels"]
    packages = {"cost-levers": ("levers/", "hardware_specs/"), "param": ("param/",)}
    for dist, prefixes in packages.items():
        with zipfile.ZipFile(site / wheels[dist]) as zf:
            zf.extractall(tmp_path, [n for n in zf.namelist() if n.startswith(prefixes)])
    compiled = list((tmp_path / "levers").glob("**/__pycache__/*.cpython-313.pyc"))
    assert len(compiled) > 20
    for pyc in compiled:
        source = pyc.parent.parent / (pyc.name.split(".")[0] + ".py")
        source.unlink()
        pyc.rename(source.with_suffix(".pyc"))
    code = ("import json, levers\n"
            "assert levers.__file__.endswith('__init__.pyc'), levers.__file__\n"
            "print(json.dumps([s.cost_per_day for s in levers.waterfall(levers.load_preset('lesson')).steps]))\n")
    got = json.loads(run_in_pyodide(code, [tmp_path / p.rstrip("/") for ps in packages.values() for p in ps]))
    import levers

    assert got == pytest.approx([s.cost_per_day for s in levers.waterfall(levers.load_preset("lesson")).steps],
                                rel=1e-12)


def test_worker_installs_our_wheel_from_the_site_not_pypi(site, manifest):
    from panel.io import convert

    worker = (site / manifest["worker"]).read_text()
    specs, extra = worker_env_spec(worker)
    ours = f"./wheels/cost_levers-{manifest['versions']['cost-levers']}-py3-none-any.whl"
    assert ours in specs
    assert "deps=False" in extra, "micropip would resolve dependencies from an index"
    lock = build.load_pyodide_lock(convert.PYODIDE_VERSION)
    for spec in specs:
        if spec.startswith("./"):
            assert (site / spec).is_file(), f"{spec} is not in the site"
        else:
            assert build._norm(spec) in lock, f"{spec} is neither in the site nor in Pyodide"
    for name in ("cost_levers", "panel", "bokeh", "param"):
        assert any(s.startswith(f"./wheels/{name}-") for s in specs), name
    assert not re.search(r"pypi\.org|pythonhosted\.org|cdn\.holoviz\.org", worker)
    assert "importScripts(PYODIDE_URL)" in worker
    assert json.dumps(convert.PYODIDE_URL) in worker, "not the pinned Pyodide release"


def test_pages_refer_only_to_files_in_the_site(site):
    for page in ("index.html", "lesson.html"):
        refs, doc_urls = build.page_references((site / page).read_text())
        for ref in refs + doc_urls:
            parts = urlsplit(ref)
            assert not parts.scheme and not parts.netloc, f"{page} loads {ref}"
            if parts.path:
                assert (site / unquote(parts.path)).is_file(), f"{page}: {ref} missing"


def test_embed_script_is_included_by_the_page_template(site):
    html = (site / "index.html").read_text()
    assert '<script src="embed-resize.js" defer></script>' in html
    lesson = (site / "lesson.html").read_text()
    assert re.search(r'<iframe[^>]+src="index\.html\?embed=1"[^>]+loading="lazy"', lesson)


def test_custom_pyodide_url_with_source_only_python(tmp_path, site, manifest):
    url = "https://example.invalid/pyodide/v0.30.0/full/pyodide.js"
    out = build_site(tmp_path / "site", "--pyodide-url", url, "--source-only")
    custom = json.loads((out / "manifest.json").read_text())
    assert custom["pyodide_url"] == url
    worker = (out / custom["worker"]).read_text()
    assert f"const PYODIDE_URL = {json.dumps(url)};" in worker
    # Source only: no bytecode anywhere, and no runtime check in the worker.
    assert custom["environment"]["bytecode"] == {"tag": "", "modules": {}}
    for rel in custom["environment"]["wheels"].values():
        with zipfile.ZipFile(out / rel) as zf:
            assert not [n for n in zf.namelist() if n.endswith(".pyc")], rel
    assert "cache_tag" not in worker
    # The default build checks the runtime's cache tag before installing anything.
    default = (site / manifest["worker"]).read_text()
    check = default.index("sys.implementation.cache_tag")
    assert check < default.index("micropip.install")
    assert 'const compiledFor = "cpython-313";' in default and "is compiled for ${compiledFor}" in default


def fake_previous_build(out: Path, files: dict[str, str] | None = None) -> Path:
    """A folder shaped like a previous build: its files and a manifest listing them."""
    files = files or {"index.html": "previous build"}
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    manifest = {"name": "cost-levers", "files": {rel: {"size": len(t)} for rel, t in files.items()}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_failed_build_keeps_previous_site_and_says_why(tmp_path):
    out = fake_previous_build(tmp_path / "dist")
    # What killed builds leave behind: staging folders of the old and the current naming.
    for stale in (".dist.building-a1b2c3", ".dist.building-999999999-x1"):
        (tmp_path / stale).mkdir()
        (tmp_path / stale / "index.html").write_text("half a site")
    # The app runs from the project's wheel, so the broken app is a module of a copy of the project.
    project = tmp_path / "project"
    for rel in build.project_sources(REPO_ROOT):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_bytes((REPO_ROOT / rel).read_bytes())
    bad = project / "app" / "broken_app.py"
    bad.write_text("import panel as pn\nraise RuntimeError('the app is broken')\n")
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "build.py"), str(bad), "--out", str(out),
                           "--project", str(project)], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert proc.returncode == 1
    assert "build.py: error:" in proc.stderr and "the app is broken" in proc.stderr
    assert (out / "index.html").read_text() == "previous build"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist", "project"]


def test_app_outside_the_project_is_refused_with_its_reason(tmp_path):
    stray = tmp_path / "app.py"
    stray.write_text("import panel as pn\n")
    proc = run_build(str(stray), "--out", str(tmp_path / "dist"))
    assert proc.returncode == 1
    assert "is not inside the project" in proc.stderr and not (tmp_path / "dist").exists()


# --------------------------------------------------------------------------- the output folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", ["source folder", "previous build plus a file", "foreign manifest",
                                  "nested foreign folder", "not a folder"])
def test_out_that_the_build_did_not_write_is_refused_untouched(tmp_path, case):
    out = tmp_path / "out"
    out.mkdir()
    if case == "source folder":  # as `build.py --out app` or `--out tests`
        (out / "main.py").write_text("print('my work')\n")
    elif case == "previous build plus a file":
        fake_previous_build(out)
        (out / "notes.txt").write_text("mine")
    elif case == "foreign manifest":
        (out / "manifest.json").write_text(json.dumps({"name": "something-else", "files": {}}))
        (out / "data.csv").write_text("1,2")
    elif case == "nested foreign folder":
        fake_previous_build(out, {"index.html": "x", "vendor/a.js": "y"})
        (out / "vendor" / "mine").mkdir()
    else:
        out.rmdir()
        out.write_text("a file")
    before = _snapshot(out) if out.is_dir() else out.read_bytes()
    proc = run_build(str(APP), "--out", str(out))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"build.py: error: refusing to replace --out {out}"), proc.stderr
    assert "[build]" not in proc.stdout  # refused before any work
    assert (_snapshot(out) if out.is_dir() else out.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_repository_folders_are_refused(tmp_path):
    for folder in (REPO_ROOT / "app", REPO_ROOT / "tests", REPO_ROOT, REPO_ROOT.parent):
        with pytest.raises(build.BuildError, match="refusing to replace"):
            build.check_out(folder)
    build.check_out(tmp_path / "new")  # missing: fine
    (tmp_path / "empty").mkdir()
    build.check_out(tmp_path / "empty")  # empty: fine
    build.check_out(fake_previous_build(tmp_path / "dist", {"index.html": "a", "vendor/x/b.js": "b"}))


@pytest.mark.parametrize("out", ["/proc/cost-levers-test/dist", "/proc/self/dist"])
def test_unwritable_out_is_one_line(out):
    proc = run_build(str(APP), "--out", out)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("build.py: error: cannot write the site beside --out"), proc.stderr


def test_swap_exchanges_in_one_step(tmp_path, monkeypatch):
    out = fake_previous_build(tmp_path / "dist", {"index.html": "old"})
    staging = build.make_staging(out)
    fake_previous_build(staging, {"index.html": "new"})

    def no_rename(*args):  # two renames would leave a moment without dist/
        raise AssertionError("rename used to swap an existing site")

    monkeypatch.setattr(build.os, "rename", no_rename)
    build.swap_into_place(staging, out)
    assert (out / "index.html").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist"]


def test_site_left_aside_by_a_crashed_swap_is_restored(tmp_path):
    out = tmp_path / "dist"
    aside = fake_previous_build(tmp_path / ".dist.old-999999999", {"index.html": "old"})
    half = tmp_path / ".dist.building-999999999-abc"
    half.mkdir()
    build.clean_stale(out)
    assert (out / "index.html").read_text() == "old"
    assert not aside.exists() and not half.exists()
    running = tmp_path / f".dist.building-{os.getpid()}-xyz"  # a build still running: left alone
    running.mkdir()
    build.clean_stale(out)
    assert running.is_dir()


@pytest.mark.parametrize("which", ["hardware", "model", "efficiency fit", "sustained clocks"])
def test_corrupt_data_file_fails_the_build_naming_the_file_first_and_last(tmp_path, which):
    import shutil

    project = tmp_path / "project"
    for folder in ("hardware_specs", "levers"):  # the data and the validator that checks it
        shutil.copytree(REPO_ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    if which == "hardware":
        bad = project / "hardware_specs" / "h100.toml"
        bad.write_text(bad.read_text().replace("hbm_GB = 80", "hbm_GB = 1e308"))
        field = "memory.hbm_GB"
    elif which == "model":
        bad = project / "levers" / "model_specs" / "mixtral-8x7b.toml"
        bad.write_bytes(bad.read_bytes().replace(b"Mixtral 8x7B", "Mixtral \xe9".encode("latin-1")))
        field = "not valid UTF-8"
    elif which == "efficiency fit":
        bad = project / "levers" / "measurements" / "efficiency_fit.toml"
        bad.write_text(bad.read_text() + "\n[family.\n")
        field = "invalid TOML"
    else:
        bad = project / "levers" / "measurements" / "sustained_clocks.toml"
        bad.write_text(bad.read_text() + "\n[part.\n")
        field = "invalid TOML"
    cmd = [sys.executable, str(REPO_ROOT / "build.py"), str(APP), "--out", str(tmp_path / "dist"),
           "--project", str(project)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 1
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1, proc.stdout + proc.stderr
    assert lines[0].startswith(f"build.py: error: invalid data file {bad}: {field}"), lines[0]
    assert "Panel" not in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_a_share_link_rendered_in_the_second_interpreter_reports_its_own_error(tmp_path):
    """write_prerendered hands half the links to a second interpreter: its BuildError
    comes back as the build's, naming the link."""
    app = REPO_ROOT / "app" / "main.py"
    entry = build.write_entry(app, REPO_ROOT, tmp_path)
    (tmp_path / "staging" / build.PRERENDER).mkdir(parents=True)
    child = build.run_child("prerender_batch", str(app), str(entry), str(tmp_path / "staging"), str(REPO_ROOT),
                            99, [["lesson", "?preset=lesson"]])
    with pytest.raises(build.BuildError, match=r"pre-rendering the share links failed: \?preset=lesson renders "
                                               r"\d+ roots, index.html has 99"):
        build.child_result(child, "pre-rendering the share links")


def test_missing_app_fails_loudly(tmp_path):
    proc = run_build(str(tmp_path / "nope.py"), "--out", str(tmp_path / "dist"))
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr
    assert not (tmp_path / "dist").exists()


def test_serve_prints_url_and_serves_the_site(tmp_path):
    if not APP.is_file():
        pytest.skip(f"{APP} does not exist yet: nothing to compile")
    port = free_port()
    cmd = [
        sys.executable,
        str(REPO_ROOT / "build.py"),
        str(APP),
        "--out",
        str(tmp_path / "d"),
        "--serve",
        "--port",
        str(port),
    ]
    if PROJECT != REPO_ROOT:
        cmd += ["--project", str(PROJECT)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + BUILD_TIMEOUT
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.search(r"(http://127\.0\.0\.1:\d+/index\.html)", line)
            url = m.group(1) if m else None
        assert url == f"http://127.0.0.1:{port}/index.html", proc.stderr.read()
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200
            assert b"pyodideWorker" in resp.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def served(site) -> Iterator[Served]:
    with Served(site) as s:
        yield s


def pyodide_prefix() -> str:
    from panel.io import convert

    return convert.PYODIDE_URL.rsplit("/", 1)[0] + "/"


def site_errors(v: Visit) -> list[str]:
    """Console errors of a visit other than those of the refused Pyodide runtime."""
    pyodide = pyodide_prefix()
    out = []
    for text in v.errors():
        if pyodide in text or ("pyodide" in text.lower() and "net::ERR" in text):
            continue
        if "Failed to load resource" in text and "net::ERR_INTERNET_DISCONNECTED" in text:
            # Chromium does not name the URL here; foreign requests are
            # checked separately, so this can only be the Pyodide runtime.
            continue
        out.append(text)
    return out


def site_visit(browser, origin: str, **kwargs) -> Visit:
    """A visit where only ``origin`` answers and the Pyodide CDN is refused as unreachable."""
    return Visit(browser, allow=(origin + "/",), quiet=(pyodide_prefix(),), **kwargs)


@pytest.fixture
def visit(browser, served):
    visits = []

    def make(**kwargs) -> Visit:
        v = site_visit(browser, served.origin, **kwargs)
        visits.append(v)
        return v

    yield make
    for v in visits:
        v.close()




def prerendered_waterfall(site: Path) -> dict:
    """The 'waterfall' data source in the document embedded in index.html."""
    import html as htmllib

    text = (site / "index.html").read_text()
    m = re.search(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', text, re.S)
    assert m, "index.html has no pre-rendered document"
    docs = json.loads(htmllib.unescape(m.group(1)))
    found = []

    def walk(obj):
        if isinstance(obj, dict):
            if obj.get("type") == "object" and (obj.get("attributes") or {}).get("name") == "waterfall":
                found.append(obj)
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(docs)
    assert found, "the pre-rendered document has no data source named 'waterfall'"
    return found[0]


@pytest.mark.browser
def test_index_offline_shows_prerendered_waterfall(site, served, visit):
    v = visit(viewport={"width": 1200, "height": 900})
    page = v.page
    page.goto(f"{served.origin}/index.html")
    page.wait_for_function("document.documentElement.dataset.runtime === 'failed'", timeout=30_000)
    data = page.evaluate(WATERFALL_JS)
    assert data, "no 'waterfall' data source in the rendered page"
    columns = [c for c in data.values() if c]
    assert columns and all(len(c) == len(columns[0]) for c in columns)
    assert len(columns[0]) >= 2, data
    # The default scenario's numbers, as the engine computes them.
    import levers

    w = levers.waterfall(levers.Scenario())
    assert data["lever"] == ["baseline", *levers.LEVERS, "final"]
    assert data["cost_per_day"] == pytest.approx(
        [st.cost_per_day for st in w.steps] + [w.final_cost_per_day])
    assert prerendered_waterfall(site)  # and it came from the page, not from Python
    # Bokeh drew the figure: a canvas with a size.
    canvas = page.evaluate("""() => {
      let best = 0;
      const visit = (root) => {
        for (const el of root.querySelectorAll('*')) {
          if (el.tagName === 'CANVAS') best = Math.max(best, el.width * el.height);
          if (el.shadowRoot) visit(el.shadowRoot);
        }
      };
      visit(document);
      return best;
    }""")
    assert canvas > 100 * 100, "no drawn canvas"
    notice = page.locator(".cl-runtime-notice")
    assert "Static preview" in notice.inner_text()
    assert not v.foreign, f"requests to other hosts: {v.foreign}"
    assert any(r.startswith(pyodide_prefix()) for r in v.requests), "Pyodide was never requested"
    assert not site_errors(v), site_errors(v)


@pytest.mark.browser
def test_recorders_see_console_errors_and_foreign_requests(served, visit):
    """The offline checks are only as good as the recorders: prove they record."""
    v = visit()
    v.canaries(f"{served.origin}/index.html")
    assert any("canary error" in e for e in site_errors(v))
    assert "https://example.invalid/x" in v.foreign


@pytest.mark.browser
def test_loading_indicator_says_what_is_loading(served, visit):
    v = visit()
    held = []  # leave the runtime request unanswered, so the page stays "loading"
    v.context.route(re.compile(re.escape(pyodide_prefix()) + ".*"), lambda r: held.append(r))
    v.page.goto(f"{served.origin}/index.html")
    msg = v.page.locator(".pn-loading-msg")
    msg.wait_for(timeout=15_000)
    assert "Python runtime" in msg.inner_text()
    assert "pn-loading" in v.page.evaluate("document.body.className")
    assert v.page.evaluate("document.documentElement.dataset.runtime") == "loading"
    v.page.screenshot(path=str(ARTIFACTS / "site-loading.png")) if ARTIFACTS.is_dir() else None
    assert held, "the worker never asked for the Python runtime"
    for route in held:
        route.abort("internetdisconnected")


@pytest.mark.browser
def test_query_string_survives_in_the_address_bar(served, visit):
    """The worker reads the page's location (Panel sends it after the first render);
    the pre-rendered page must not rewrite the query before that."""
    v = visit()
    v.page.goto(f"{served.origin}/index.html?embed=1&share=abc")
    v.page.wait_for_function("document.documentElement.dataset.runtime === 'failed'")
    qs = parse_qs(urlsplit(v.page.url).query)
    assert qs == {"embed": ["1"], "share": ["abc"]}
    assert v.page.evaluate("document.documentElement.classList.contains('cl-embed')")


@pytest.mark.browser
def test_lesson_page_embeds_calculator_and_sizes_iframe(served, visit):
    v = visit(viewport={"width": 1000, "height": 800})
    page = v.page
    page.goto(f"{served.origin}/lesson.html")
    frame_el = page.locator("iframe#calculator")
    frame_el.scroll_into_view_if_needed()
    frame = frame_el.element_handle().content_frame()
    frame.wait_for_function(WATERFALL_JS, timeout=30_000)
    frame.wait_for_function("document.documentElement.dataset.runtime === 'failed'")
    # The height is reported again as Bokeh lays the calculator out.
    page.wait_for_function(
        "Number(document.getElementById('calculator').dataset.reportedHeight) > 200",
        timeout=30_000,
    )
    page.wait_for_timeout(500)
    if ARTIFACTS.is_dir():
        page.screenshot(path=str(ARTIFACTS / "site-lesson-page.png"), full_page=True)
    reported = int(page.evaluate("document.getElementById('calculator').dataset.reportedHeight"))
    content = frame.evaluate("Math.ceil(document.body.getBoundingClientRect().bottom)")
    assert reported > 200
    assert abs(reported - content) <= 2, (reported, content)
    box = frame_el.bounding_box()
    assert abs(box["height"] - reported) <= 3, (box, reported)
    assert not v.foreign, f"requests to other hosts: {v.foreign}"
    assert not site_errors(v), site_errors(v)


# --------------------------------------------------------------------------- size


def _plain_cdn_to_local(url: str):
    """Files of Panel's plain conversion, served from the installed packages
    (byte-identical to the released CDN files)."""
    import bokeh
    import panel

    m = re.match(r"https://cdn\.bokeh\.org/bokeh/release/(bokeh(?:-[a-z]+)?)-[\d.]+(\.min)?\.js$", url)
    if m:
        return Path(bokeh.__file__).parent / "server/static/js" / f"{m[1]}{m[2] or ''}.js"
    m = re.match(r"https://cdn\.holoviz\.org/panel/[^/]+/dist/([^?]+)", url)
    if m:
        return Path(panel.__file__).parent / "dist" / unquote(m[1])
    return None


def first_view_bytes(browser, folder: Path, page: str, map_url=None) -> tuple[int, Visit]:
    with Served(folder) as s:
        v = site_visit(browser, s.origin, map_url=map_url, record_bytes=True)
        try:
            v.page.goto(f"{s.origin}/{page}", wait_until="load")
            v.page.wait_for_function(WATERFALL_JS, timeout=30_000)
            v.page.wait_for_timeout(1000)
            return sum(v.bytes.values()), v
        finally:
            v.close()


@pytest.mark.browser
def test_first_view_is_not_larger_than_panels_plain_conversion(site, browser, tmp_path):
    plain = tmp_path / "plain"
    proc = subprocess.run(
        [sys.executable, "-m", "panel", "convert", str(APP), "--to", "pyodide-worker", "--out", str(plain)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        cwd=APP.parent,
    )
    if proc.returncode != 0 or not (plain / f"{APP.stem}.html").is_file():
        pytest.fail(f"panel convert failed:\n{proc.stdout}\n{proc.stderr}")
    ours, v_ours = first_view_bytes(browser, site, "index.html")
    theirs, v_plain = first_view_bytes(browser, plain, f"{APP.stem}.html", _plain_cdn_to_local)
    assert not v_plain.foreign, f"unmapped CDN files in the plain conversion: {v_plain.foreign}"
    assert not v_ours.foreign, f"requests to other hosts: {v_ours.foreign}"
    print(f"\nfirst view: ours {ours:,} bytes, panel convert {theirs:,} bytes")
    detail = "\n".join(
        f"{n:>10,} {url}" for v in (v_ours, v_plain) for url, n in sorted(v.bytes.items(), key=lambda kv: -kv[1])
    )
    assert ours <= theirs, detail


# --------------------------------------------------------------------------- PWA


@pytest.fixture(scope="module")
def pwa_site(tmp_path_factory) -> Path:
    return build_site(tmp_path_factory.mktemp("pwa") / "dist", "--pwa")


def test_pwa_files_and_cache_version(pwa_site):
    manifest = json.loads((pwa_site / "manifest.json").read_text())
    webmanifest = json.loads((pwa_site / "site.webmanifest").read_text())
    assert webmanifest["start_url"] == "./index.html"
    for icon in webmanifest["icons"]:
        assert (pwa_site / icon["src"]).is_file()
    sw = (pwa_site / "serviceWorker.js").read_text()
    version = manifest["pwa"]["cache_version"]
    assert f"cache {version}" in sw and re.fullmatch(r"[0-9a-f]{16}", version)
    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", sw, re.S).group(1))
    assert "index.html" in precache and manifest["worker"] in precache
    assert set(precache) == set(manifest["files"]) - {"serviceWorker.js"}
    html = (pwa_site / "index.html").read_text()
    assert '<link rel="manifest" href="site.webmanifest">' in html
    assert "serviceWorker.register('./serviceWorker.js')" in html


def test_cache_version_is_a_content_hash(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    v1 = build.write_service_worker(tmp_path, "https://cdn.example/pyodide/full/pyodide.js")
    v2 = build.write_service_worker(tmp_path, "https://cdn.example/pyodide/full/pyodide.js")
    (tmp_path / "a.txt").write_text("two")
    v3 = build.write_service_worker(tmp_path, "https://cdn.example/pyodide/full/pyodide.js")
    assert v1 == v2 != v3


@pytest.mark.browser
def test_pwa_works_offline_after_first_visit(pwa_site, browser):
    with Served(pwa_site) as s:
        v = site_visit(browser, s.origin)
        try:
            page = v.page
            page.goto(f"{s.origin}/index.html")
            page.wait_for_function("navigator.serviceWorker.ready.then(r => !!r.active)", timeout=30_000)
            cached = page.evaluate(
                "caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k)"
                ".then(c => c.keys()).then(rs => [k, rs.length]))))"
            )
            assert len(cached) == 1 and cached[0][1] > 10, cached
            v.context.set_offline(True)
            page.reload()
            page.wait_for_function(WATERFALL_JS, timeout=30_000)
            assert page.evaluate(WATERFALL_JS)
        finally:
            v.close()


@pytest.mark.browser
def test_pwa_new_build_replaces_stale_cache(browser, tmp_path):
    out = build_site(tmp_path / "dist", "--pwa")
    first = json.loads((out / "manifest.json").read_text())["pwa"]["cache_version"]
    # Bounded waits only: Playwright polls these in the page and gives up at the timeout.
    has_only = "async (name) => { const k = await caches.keys(); return k.length === 1 && k[0] === name; }"
    with Served(out) as s:
        v = site_visit(browser, s.origin)
        try:
            page = v.page
            page.goto(f"{s.origin}/index.html")
            page.wait_for_function("navigator.serviceWorker.ready.then(r => !!r.active)", timeout=60_000)
            page.wait_for_function(has_only, arg=f"cost-levers-{first}", timeout=30_000, polling=250)
            build_site(out, "--pwa")  # a new build of the same site, in place
            second = json.loads((out / "manifest.json").read_text())["pwa"]["cache_version"]
            assert second != first  # the pages carry fresh element ids
            page.reload()
            # Panel's registration script reloads the page once the new worker is in.
            page.wait_for_function(has_only, arg=f"cost-levers-{second}", timeout=60_000, polling=250)
            page.wait_for_function(WATERFALL_JS, timeout=30_000)
        finally:
            v.close()
