#!/usr/bin/env python
"""Compile the Cost Levers Panel app into a static site that runs Python in the browser.

Usage::

    python build.py [APP] [--out DIR] [--pyodide-url URL] [--pwa] [--serve [--port N]]

The site is produced by Panel's own converter (``panel.io.convert``) for the
``pyodide-worker`` target, configured rather than post-edited:

* ``PANEL_CDN_ROOT`` (Panel's setting for where its assets live) points at the
  copy of Panel's ``dist/`` inside the output, so every Panel URL the converter
  writes -- JS, CSS, stylesheets inside the pre-rendered document, favicon --
  is a relative URL into the site; BokehJS comes from the same folder (Bokeh's
  CDN base is swapped for the local one while the page is rendered).
* ``panel.io.convert.WEB_WORKER_TEMPLATE`` is ``static/_build/pyodide_worker.js.j2``:
  Panel's worker with a configurable Pyodide URL and an environment that is
  resolved here and installed from wheels inside the output (relative URLs).
* ``panel.io.convert.BASE_TEMPLATE`` is ``static/_build/page.html.j2``, which
  extends Panel's own base template to add the manifest link, the status line
  and ``static/embed-resize.js``.

Only the Python runtime (Pyodide and the compiled packages it ships) is fetched
from elsewhere: the pinned Pyodide CDN, or ``--pyodide-url``.

The site is written to a temporary folder beside ``--out`` and swapped in only
when it is complete; any error stops the build with a message and exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import functools
import hashlib
import html.parser
import http.server
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import typing
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

ROOT = Path(__file__).resolve().parent
STATIC = ROOT / "static"
TEMPLATES = STATIC / "_build"  # build templates: used by the build, not copied to the site
DEFAULT_APP = ROOT / "app" / "main.py"
DEFAULT_OUT = ROOT / "dist"

SITE_TITLE = "Cost Levers"
SITE_DESCRIPTION = (
    "What it costs to serve a large language model, and the five levers that bring the "
    "cost down: prefix caching, batching, routing, quantization and hardware."
)
THEME_COLOR = "#0072B5"

# Where the vendored browser assets go inside the site.  Panel appends
# "<version>/dist/" to PANEL_CDN_ROOT; Bokeh appends "/bokeh/release/<file>" to
# its CDN base.  The folder name must not start with "static/" (Panel treats
# such URLs as server-relative) nor with "_" (GitHub Pages hides those).
VENDOR = "vendor"
PANEL_CDN_ROOT = f"{VENDOR}/panel/"
BOKEH_CDN_BASE = VENDOR
WHEELS = "wheels"
# The project's packages, which its wheel must hold (the app is a module of one of them).
WHEEL_PACKAGES = ("levers", "app", "hardware_specs")
PAGE = "index.html"

# Packages that Panel or Bokeh declare but that are only imported by optional
# features (pandas: DataFrame-backed widgets and panes; nh3: HTML sanitizing on
# request; panel-material-ui: its design system); they are left out of the
# browser environment unless the app imports them while it is pre-rendered.
OPTIONAL_IF_UNUSED = {"panel-material-ui": "panel_material_ui", "pandas": "pandas", "nh3": "nh3"}

# Installed in the browser in addition to the declared dependencies, with why.
# Without pyodide-http, panel.io.pyodide imports pandas to patch its URL readers.
BROWSER_EXTRAS = {"pyodide-http": "Panel's worker (patches requests for the browser)"}

# Parts of installed packages that the browser never needs: the JS/CSS bundles
# and images are served from vendor/ instead (like the wheels on Panel's own
# CDN), and TypeScript sources and Sphinx extensions are never imported.
STRIP = {
    "panel": (
        re.compile(r"^panel/dist/(bundled|lib|dts|images)/"),
        re.compile(r"^panel/dist/[^/]+\.(js|map|json)$"),
        re.compile(r"^panel/models/.*\.tsx?$"),  # the TypeScript sources of Panel's models
        re.compile(r"^panel/tests/"),
    ),
    "bokeh": (
        re.compile(r"^bokeh/server/static/"),
        re.compile(r"^bokeh/sampledata/_data/"),
        re.compile(r"^bokeh/sphinxext/"),  # the documentation extension
    ),
}


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


def log(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- Panel


def import_panel():
    """Import Panel configured to treat the site's vendor/ folder as its CDN."""
    if "panel" in sys.modules:
        from panel.io import resources

        if resources.CDN_ROOT != PANEL_CDN_ROOT:
            raise BuildError(
                "panel was imported before build.py could set PANEL_CDN_ROOT; "
                "run build.py as a script (python build.py) in a fresh interpreter"
            )
    os.environ["PANEL_CDN_ROOT"] = PANEL_CDN_ROOT
    import bokeh
    import panel
    from panel.io import convert

    cdn_dist = convert.CDN_DIST
    if cdn_dist != f"{PANEL_CDN_ROOT}{convert.PY_VERSION}/dist/":
        raise BuildError(f"PANEL_CDN_ROOT was not honoured by Panel (CDN_DIST={cdn_dist})")
    return panel, bokeh, convert


def template_env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


# --------------------------------------------------------------------------- environment


@dataclass
class Environment:
    """What the worker installs: wheels in the site and names from Pyodide's lock."""

    wheels: dict[str, Path] = field(default_factory=dict)  # dist name -> wheel in staging
    from_pyodide: dict[str, str] = field(default_factory=dict)  # name -> version in lock
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason
    startup: set[str] | None = None  # names installed before the app starts (None: all)
    bytecode: str = ""  # cache tag the start-up modules are compiled for ('' = source only)

    def at_startup(self, name: str) -> bool:
        return self.startup is None or name in self.startup

    def specs(self, *, deferred: bool = False) -> list[str]:
        """What micropip installs: before the app starts, or (``deferred``) once it is live."""
        urls = [f"./{WHEELS}/{p.name}" for n, p in self.wheels.items() if self.at_startup(n) != deferred]
        return urls + sorted(n for n in self.from_pyodide if self.at_startup(n) != deferred)

    def all_specs(self) -> list[str]:
        return self.specs() + self.specs(deferred=True)


PYODIDE_MARKERS = {
    # What micropip sees inside Pyodide (CPython on wasm32/emscripten); the Python
    # version is taken from the Pyodide lock file when it is read.
    "implementation_name": "cpython",
    "platform_machine": "wasm32",
    "platform_system": "Emscripten",
    "sys_platform": "emscripten",
    "os_name": "posix",
    "python_version": "3.13",
    "python_full_version": "3.13.2",
    "platform_python_implementation": "CPython",
    "extra": "",
}


def load_pyodide_lock(pyodide_version: str) -> dict:
    """The package list of the pinned Pyodide release (npm package `pyodide`)."""
    pkg = ROOT / "node_modules" / "pyodide"
    lock = pkg / "pyodide-lock.json"
    if not lock.is_file():
        raise BuildError(
            f"{lock.relative_to(ROOT)} is missing: it lists the packages Pyodide "
            f"{pyodide_version} provides. Run `npm ci` in {ROOT}."
        )
    version = json.loads((pkg / "package.json").read_text())["version"]
    if f"v{version}" != pyodide_version:
        raise BuildError(
            f"node_modules/pyodide is {version} but Panel pins Pyodide {pyodide_version}; "
            "update package.json so the lock matches the runtime"
        )
    data = json.loads(lock.read_text())
    python = data["info"]["python"]
    PYODIDE_MARKERS["python_full_version"] = python
    PYODIDE_MARKERS["python_version"] = ".".join(python.split(".")[:2])
    return {_norm(name): info for name, info in data["packages"].items()}


def resolve_environment(project_wheel: Path, lock: dict, imported: set[str], staging_wheels: Path) -> Environment:
    """Resolve the closure of cost-levers + panel + bokeh for Pyodide.

    A dependency that Pyodide's lock provides at a version meeting the requirement
    is installed from Pyodide; every other one must be a pure-Python distribution
    installed here, and is repacked from the installed files into a wheel in the
    site (the same version that pre-rendered the page).
    """
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.version import Version

    env = Environment()
    env.wheels["cost-levers"] = project_wheel
    queue: list[tuple[Requirement, str]] = []

    with zipfile.ZipFile(project_wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = zf.read(meta_name).decode()
    for line in meta.splitlines():
        if line.startswith("Requires-Dist:"):
            queue.append((Requirement(line.split(":", 1)[1].strip()), "cost-levers"))
    queue += [(Requirement("panel"), "the app"), (Requirement("bokeh"), "the app")]
    queue += [(Requirement(name), why) for name, why in BROWSER_EXTRAS.items()]

    seen: set[str] = set()
    while queue:
        req, parent = queue.pop(0)
        if req.marker is not None and not req.marker.evaluate(PYODIDE_MARKERS):
            continue
        name = _norm(req.name)
        if name in seen:
            continue
        seen.add(name)
        module = OPTIONAL_IF_UNUSED.get(name)
        if module and module not in imported:
            env.skipped[name] = f"required by {parent} but not imported by the app"
            continue
        in_lock = lock.get(name)
        if (
            in_lock
            and name not in ("panel", "bokeh")
            and (not req.specifier or req.specifier.contains(in_lock["version"], prereleases=True))
        ):
            env.from_pyodide[name] = in_lock["version"]
            continue  # Pyodide resolves its own packages' dependencies
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise BuildError(
                f"{req.name} (required by {parent}) is not provided by Pyodide and is not "
                "installed here, so it cannot be bundled; pip install it"
            ) from None
        if req.specifier and not req.specifier.contains(Version(dist.version), prereleases=True):
            raise BuildError(f"installed {req.name} {dist.version} does not meet {req} ({parent})")
        env.wheels[name] = repack_installed(dist, staging_wheels, STRIP.get(name, ()))
        for sub in dist.requires or []:
            queue.append((Requirement(sub), req.name))
    return env


# A fresh interpreter running build.py's own functions (argv: build.py, then the
# function's arguments as JSON): the start-up measurement and the second half of
# the share links' pre-render run the same code as the build itself.
_CHILD = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("cost_levers_build_child", sys.argv[1])
build = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = build
spec.loader.exec_module(build)
try:
    out = getattr(build, sys.argv[2])(*json.loads(sys.argv[3]))
except build.BuildError as e:
    print(json.dumps({"error": str(e)}))
    sys.exit(3)
print(json.dumps({"result": out}))
"""


def run_child(function: str, *args) -> subprocess.Popen:
    """Start ``function(*args)`` of this file in a fresh interpreter; read it with :func:`child_result`."""
    return subprocess.Popen([sys.executable, "-c", _CHILD, __file__, function, json.dumps(args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def child_result(proc: subprocess.Popen, what: str):
    """What the child started by :func:`run_child` returned; a BuildError naming ``what`` if it failed."""
    out, err = proc.communicate()
    if proc.returncode == 3:  # the child's BuildError, whole
        raise BuildError(f"{what} failed: {json.loads(out.strip().splitlines()[-1])['error']}")
    if proc.returncode != 0:  # anything else: the last line of its traceback
        tail = err.strip().splitlines()[-1:] or ["no output"]
        raise BuildError(f"{what} failed: {tail[0]}")
    return json.loads(out.strip().splitlines()[-1])["result"]


def imported_after_render(app: str, entry: str, project: str) -> list[str]:
    """Pre-render the app from its entry script once and list every module then imported.
    Run in a fresh interpreter (:func:`startup_modules`)."""
    sys.path.insert(0, project)
    os.chdir(Path(app).parent)
    render_document(Path(entry), "")
    return sorted(sys.modules)


def startup_modules(app: Path, project: Path) -> set[str]:
    """The modules (dotted names) the app imports before it is first rendered.

    Measured in a fresh CPython that pre-renders the app the way the converter
    does (plus the converter's own imports, so the set errs on the side of too
    much).
    """
    with tempfile.TemporaryDirectory(prefix="cost-levers-entry-") as tmp:
        entry = write_entry(app, project, Path(tmp))
        child = run_child("imported_after_render", str(app), str(entry), str(project))
        return set(child_result(child, f"{app}, while its start-up imports were measured,"))


def startup_distributions(modules: set[str], env: Environment) -> set[str]:
    """The environment's distributions that own any of ``modules`` (see :func:`startup_modules`).

    The worker installs these before it starts the app and the rest of the
    environment once the app is live; the worker's dry run
    (tests/worker_dryrun.py) checks that the start-up set is enough.
    """
    from importlib import metadata

    owners = metadata.packages_distributions()
    imported = {_norm(d) for m in {m.partition(".")[0] for m in modules} for d in owners.get(m, ())}
    imported.add("cost-levers")
    return {n for n in (*env.wheels, *env.from_pyodide) if n in imported} | set(BROWSER_EXTRAS)


#: Wheels that keep their source beside the bytecode: the engine and its one dependency,
#: which the site also serves as an offline copy of the engine for any CPython.
KEEP_SOURCE = ("cost-levers", "param")


def bytecode_tag() -> str:
    """The cache tag of the pinned Pyodide's CPython (``cpython-313``), from its lock's Python version."""
    major, minor = PYODIDE_MARKERS["python_version"].split(".")
    return f"cpython-{major}{minor}"


def byte_compile(env: Environment, modules: set[str]) -> list[str]:
    """Add Pyodide-CPython bytecode for ``modules`` to the start-up wheels of the site.

    Without it, the browser compiles every imported module's source on each
    visit: importing Panel and Bokeh took 3.5-4.2 s in Pyodide under Node,
    against 2.1-2.6 s from bytecode (bench/site.py --live measures the whole
    page). The compiler is the npm package ``pyodide``, the runtime's own
    CPython; the worker refuses to start on a runtime with another cache tag
    (see static/_build/byte_compile.py for the format and the trade-off). The
    :data:`KEEP_SOURCE` wheels keep their source, so they still install into
    any CPython.

    Returns one line per wheel: name, modules compiled, bytes of source replaced.
    """
    node = shutil.which("node")
    if node is None:
        raise BuildError("node (20+) is not on PATH: the build compiles the site's Python with "
                         "the npm package pyodide (run `npm ci` once Node is installed)")
    wheels = [str(p) for n, p in sorted(env.wheels.items()) if env.at_startup(n)]
    with tempfile.TemporaryDirectory(prefix="cost-levers-pyc-") as tmp:
        listing = Path(tmp) / "plan.json"
        keep = [env.wheels[n].name for n in KEEP_SOURCE if n in env.wheels]
        listing.write_text(json.dumps({"modules": sorted(modules), "keep_source": keep}))
        proc = subprocess.run([node, str(TEMPLATES / "byte_compile.mjs"), str(ROOT / "node_modules" / "pyodide"),
                               str(listing), *wheels], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"byte-compiling the site's wheels in Pyodide failed: {tail[:300]}")
    tag, *lines = proc.stdout.strip().splitlines()
    if tag != bytecode_tag():
        raise BuildError(f"node_modules/pyodide runs {tag}, but its lock says {bytecode_tag()}: run `npm ci`")
    return lines


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def repack_installed(dist, out_dir: Path, strip=()) -> Path:
    """Write an installed pure-Python distribution back into a wheel.

    Deterministic (sorted entries, fixed timestamps), so an unchanged environment
    gives byte-identical wheels and an unchanged PWA cache version.
    """
    import base64

    meta_file = next((f for f in dist.files or [] if f.as_posix().endswith(".dist-info/METADATA")), None)
    if meta_file is None:
        raise BuildError(f"{dist.metadata['Name']} has no RECORD of its installed files")
    dist_info = Path(dist.locate_file(meta_file)).parent  # the .dist-info folder
    wheel_meta = (dist_info / "WHEEL").read_text()
    if "Root-Is-Purelib: true" not in wheel_meta:
        raise BuildError(
            f"{dist.metadata['Name']} {dist.version} is not pure Python and Pyodide does not "
            "provide it; it cannot run in the browser"
        )
    site = dist_info.parent
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    out = out_dir / f"{name}-{dist.version}-py3-none-any.whl"
    skip_info = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    files = []
    for f in dist.files or []:
        rel = f.as_posix()
        if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
            continue
        if rel.startswith(dist_info.name + "/") and rel.split("/", 1)[1] in skip_info:
            continue
        if any(p.search(rel) for p in strip):
            continue
        files.append(rel)
    record = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for rel in sorted(files):
            data = (site / rel).read_bytes()
            info = zipfile.ZipInfo(rel, ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append((rel, f"sha256={digest}", str(len(data))))
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerows(record)
        writer.writerow((f"{dist_info.name}/RECORD", "", ""))
        info = zipfile.ZipInfo(f"{dist_info.name}/RECORD", ZIP_EPOCH)
        info.external_attr = 0o644 << 16
        zf.writestr(info, buf.getvalue(), zipfile.ZIP_DEFLATED)
    return out


def project_sources(project: Path) -> list[str]:
    """The project's source files: git's tracked and untracked-but-not-ignored files."""
    proc = subprocess.run(
        ["git", "-C", str(project), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
    )
    if proc.returncode == 0:
        return [f for f in proc.stdout.decode().split("\0") if f and (project / f).is_file()]
    skip = {".git", ".venv", "venv", "node_modules", "dist", "build", "__pycache__"}
    return [
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(project).parts)
    ]


def build_project_wheel(project: Path, out_dir: Path) -> Path:
    """Build cost_levers-<version>-py3-none-any.whl (levers, app, hardware_specs).

    The wheel is built from a copy of the sources, so setuptools' build/ folder
    can neither leave stale modules in the wheel nor litter the checkout.
    """
    if not (project / "pyproject.toml").is_file():
        raise BuildError(f"{project / 'pyproject.toml'} is missing; cannot build the project wheel")
    src = out_dir / "src"
    for rel in project_sources(project):
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / rel, dest)
    cmd = [
        sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-w", str(out_dir),
        "--quiet", "--disable-pip-version-check",
    ]  # fmt: skip
    if _has_build_backend():
        cmd.append("--no-build-isolation")  # offline, with the installed backend
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"building the project wheel failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")
    wheels = sorted(out_dir.glob("cost_levers-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one cost_levers wheel in {out_dir}, found {wheels}")
    with zipfile.ZipFile(wheels[0]) as zf:
        tops = {n.split("/")[0] for n in zf.namelist()}
    missing = set(WHEEL_PACKAGES) - tops
    if missing:
        raise BuildError(f"{wheels[0].name} lacks the package(s) {sorted(missing)}")
    return wheels[0]


def _has_build_backend() -> bool:
    """setuptools>=68 and wheel are installed (pyproject's build-system.requires)."""
    from importlib import metadata

    from packaging.version import Version

    try:
        return Version(metadata.version("setuptools")) >= Version("68") and bool(metadata.version("wheel"))
    except metadata.PackageNotFoundError:
        return False


# --------------------------------------------------------------------------- conversion


@contextlib.contextmanager
def converter_configured(convert, *, worker_template, page_template):
    """Point Panel's converter at our templates and BokehJS at vendor/.

    The converter reads these module attributes each time it renders, so they are
    swapped only for the duration of the conversion and restored afterwards:

    * WEB_WORKER_TEMPLATE: the worker script (pyodide_worker.js.j2);
    * Document: documents start with the site's page template (page.html.j2),
      which an app may still replace; BASE_TEMPLATE, which Panel's templates
      extend and which selects Panel's loading CSS, is the same page template;
    * bundle_resources: as Bokeh does for its own pages, BokehJS's WebGL bundle
      is loaded only when a plot asks for WebGL;
    * bokeh.resources._cdn_base_url: BokehJS's CDN base becomes vendor/.
    """
    import bokeh.resources as bkres
    from bokeh.models import Plot

    saved = {
        name: getattr(convert, name)
        for name in ("WEB_WORKER_TEMPLATE", "BASE_TEMPLATE", "Document", "bundle_resources")
    }
    saved_cdn = bkres._cdn_base_url
    panel_bundle = saved["bundle_resources"]

    def bundle_resources(roots, resources, *args, **kwargs):
        # Like Bokeh's own embedding: load bokeh-gl only when a plot asks for WebGL.
        uses_gl = any(isinstance(m, Plot) and m.output_backend == "webgl" for root in roots for m in root.references())
        if not uses_gl and "bokeh-gl" in resources.components:
            resources = resources.clone(components=[c for c in resources.components if c != "bokeh-gl"])
        return panel_bundle(roots, resources, *args, **kwargs)

    class SiteDocument(saved["Document"]):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.template = page_template

    convert.WEB_WORKER_TEMPLATE = worker_template
    convert.BASE_TEMPLATE = page_template
    convert.Document = SiteDocument
    convert.bundle_resources = bundle_resources
    bkres._cdn_base_url = lambda: BOKEH_CDN_BASE
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(convert, name, value)
        bkres._cdn_base_url = saved_cdn


class _Recorder(logging.Handler):
    """Keeps the log records of a logger while a step runs."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    @classmethod
    @contextlib.contextmanager
    def app_errors(cls):
        """Record what Bokeh logs while it runs an app: it logs the app's exception and
        Panel then reports an empty document, so the app's own error is said first."""
        recorder = cls()
        log = logging.getLogger("bokeh.application.application")
        log.addHandler(recorder)
        try:
            yield recorder
        finally:
            log.removeHandler(recorder)

    def summary(self) -> str:
        """The first error: its exception (type and message) and the app's lines of its traceback."""
        import traceback

        record = self.records[0]
        if not record.exc_info:  # Bokeh's handler logs the traceback as text: its last line and the app's line
            lines = [line.strip() for line in record.getMessage().splitlines() if line.strip()]
            return "; ".join(dict.fromkeys([lines[-1], *lines[1:2]]))
        exc = record.exc_info[1]
        frames = [f for f in traceback.extract_tb(record.exc_info[2]) if "site-packages" not in f.filename
                  and "<frozen" not in f.filename]
        where = "".join(f"\n  {f.filename}, line {f.lineno}: {f.line}" for f in frames[-3:])
        return f"{type(exc).__name__}: {exc}{where}"


def app_module(app: Path, project: Path) -> str:
    """The dotted module name of ``app`` inside the project wheel (app/main.py -> app.main).

    The site runs the app from the wheel the worker installs, so the app must be a
    module of one of the wheel's packages.
    """
    try:
        rel = app.resolve().relative_to(project.resolve())
    except ValueError:
        raise BuildError(f"{app} is not inside the project {project}; the site runs the app from its wheel") from None
    parts = rel.with_suffix("").parts
    if rel.suffix != ".py" or len(parts) < 2 or parts[0] not in WHEEL_PACKAGES:
        raise BuildError(f"{rel} is not a module of the packages {', '.join(WHEEL_PACKAGES)}; put the app there")
    return ".".join(parts)


def write_entry(app: Path, project: Path, folder: Path) -> Path:
    """The script handed to Panel's converter: it runs the app module from the wheel.

    Panel's converter assembles the worker's Python as its preamble, the script's
    source and its postamble, so an app module that starts with a docstring and
    ``from __future__ import annotations`` would no longer compile if it were the
    script itself.  The entry script is named after the app (main.py -> main.js).
    """
    entry = folder / app.name
    text = template_env().get_template("entry.py.j2").render(module=app_module(app, project))
    entry.write_text(text, encoding="utf-8")
    return entry


def convert_app(app: Path, staging: Path, env: Environment, *, pyodide_url: str, pwa: bool,
                project: Path = ROOT):
    """Run Panel's converter on the app's entry script; write index.html and the worker script."""
    _, _, convert = import_panel()
    from panel.io.resources import set_resource_mode

    tenv = template_env()
    worker_template = tenv.get_template("pyodide_worker.js.j2")
    worker_template.globals.update(
        pyodide_url=pyodide_url,
        python_env={"PANEL_CDN_ROOT": PANEL_CDN_ROOT},
        load_summary={
            "runtime": f"Pyodide {convert.PYODIDE_VERSION.lstrip('v')}",
            "packages": ", ".join(n for n in ("panel", "bokeh", "cost-levers") if n in env.wheels)
            + f" and {len(env.specs()) - 3} more packages",
        },
        deferred_spec=", ".join(repr(s) for s in env.specs(deferred=True)),
        bytecode_tag=env.bytecode,
        pyodide_version=convert.PYODIDE_VERSION,
    )
    page_template = tenv.get_template("page.html.j2")
    page_template.globals.update(
        panel_base=convert.BASE_TEMPLATE,
        site={
            "description": SITE_DESCRIPTION,
            "theme_color": THEME_COLOR,
            "css": "site.css",
            "embed_js": "embed-resize.js",
            "status_js": "runtime-status.js",
            "first_view": {"js": FIRST_VIEW_JS, "folder": f"{PRERENDER}/", "keys": sorted(prerender_queries())},
            "apple_icon": f"{convert.CDN_DIST}images/apple-touch-icon.png",
        },
    )
    # The app imports the project's packages from the checkout, as the browser
    # will from the wheel.
    sys.path.insert(0, str(project))
    cwd = os.getcwd()
    entry_dir = tempfile.TemporaryDirectory(prefix="cost-levers-entry-")
    try:
        entry = write_entry(app, project, Path(entry_dir.name))
        os.chdir(app.parent)
        with (
            _Recorder.app_errors() as app_errors,
            converter_configured(convert, worker_template=worker_template, page_template=page_template),
            set_resource_mode("cdn"),
        ):
            html, worker = convert.script_to_html(
                str(entry),
                requirements=env.specs(),
                runtime="pyodide-worker",
                prerender=True,
                manifest="site.webmanifest" if pwa else None,
                inline=False,
                compiled=False,
            )
    except BuildError:
        raise
    except Exception as e:
        import traceback

        if app_errors.records:
            raise BuildError(f"{app} failed while it was pre-rendered: {app_errors.summary()}") from e
        raise BuildError(
            f"Panel could not convert {app}: {type(e).__name__}: {e}\n" + "".join(traceback.format_exception(e)[-6:])
        ) from e
    finally:
        os.chdir(cwd)
        sys.path.remove(str(project))
        entry_dir.cleanup()
    if not worker:
        raise BuildError("Panel's converter produced no worker script")
    worker_name = f"{app.stem}.js"
    check_worker_python(worker_name, worker)
    (staging / PAGE).write_text(html, encoding="utf-8")
    (staging / worker_name).write_text(worker, encoding="utf-8")
    return worker_name


# The Python a worker script hands to Pyodide: runPythonAsync(`...`) template literals.
_RUN_PYTHON = re.compile(r"runPythonAsync\(\s*`((?:\\[\s\S]|[^`\\])*)`")
_JS_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _js_template_text(raw: str) -> str:
    """The string value of a JavaScript template literal's body (no ``${}`` in it).

    Handles the escapes a template literal knows: ``\\n`` and friends, ``\\xHH``,
    ``\\uHHHH``, ``\\u{H...}``, line continuations, and an escaped character
    standing for itself (``\\` `` -> `` ` ``, ``\\\\`` -> ``\\``).
    """
    out, i = [], 0
    while i < len(raw):
        c = raw[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = raw[i + 1]
        if n in _JS_ESCAPES:
            out.append(_JS_ESCAPES[n])
            i += 2
        elif n == "x":
            out.append(chr(int(raw[i + 2:i + 4], 16)))
            i += 4
        elif n == "u" and raw[i + 2] == "{":
            end = raw.index("}", i)
            out.append(chr(int(raw[i + 3:end], 16)))
            i = end + 1
        elif n == "u":
            out.append(chr(int(raw[i + 2:i + 6], 16)))
            i += 6
        elif n == "\n":
            i += 2  # line continuation
        else:
            out.append(n)
            i += 2
    # \uD83D\uDE00 pairs come out as two surrogates: join them.
    return "".join(out).encode("utf-16", "surrogatepass").decode("utf-16")


def worker_python(worker_js: str) -> list[tuple[int, str]]:
    """Each Python source a worker script runs: (line of the literal in the script, source).

    Literals with a ``${...}`` substitution are built at run time and skipped (the
    worker template has none; Panel escapes ``${`` in the app's source).
    """
    found = []
    for m in _RUN_PYTHON.finditer(worker_js):
        body = m.group(1)
        if "${" in body:
            continue
        found.append((worker_js.count("\n", 0, m.start(1)) + 1, _js_template_text(body)))
    return found


def compile_worker_python(source: str, filename: str):
    """Compile a source as Pyodide's ``runPythonAsync`` does: dedented, top-level await allowed."""
    import ast

    return compile(textwrap.dedent(source), filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                   dont_inherit=True)


def check_worker_python(worker_name: str, worker_js: str) -> None:
    """Fail the build if any Python the worker hands to Pyodide does not compile.

    The error names the worker script, the line of the script that holds the
    source (the converter writes a source on one line, newlines escaped), and the
    Python line with its text.
    """
    sources = worker_python(worker_js)
    if not sources:
        raise BuildError(f"{worker_name} hands no Python to Pyodide (no runPythonAsync(`...`) found)")
    for js_line, source in sources:
        try:
            compile_worker_python(source, worker_name)
        except SyntaxError as e:
            lines = textwrap.dedent(source).splitlines()
            text = lines[e.lineno - 1].strip() if e.lineno and e.lineno <= len(lines) else (e.text or "").strip()
            raise BuildError(
                f"{worker_name}, line {js_line}, Python line {e.lineno}: the Python this worker hands to "
                f"Pyodide does not compile: {e.msg}\n    {text}"
            ) from None


# --------------------------------------------------------------------------- assets


class _RefParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.json_blocks: list[str] = []
        self._in_json = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key):
                self.refs.append(a[key])
        if tag == "script" and a.get("type") == "application/json":
            self._in_json = True

    def handle_endtag(self, tag):
        self._in_json = False

    def handle_data(self, data):
        if self._in_json:
            self.json_blocks.append(data)


def page_references(html_text: str) -> tuple[list[str], list[str]]:
    """URLs a page loads: src/href attributes, and URL strings in its Bokeh document."""
    p = _RefParser()
    p.feed(html_text)
    doc_urls = []
    for block in p.json_blocks:
        doc_urls += re.findall(r'"url"\s*:\s*"([^"]+)"', block)
        doc_urls += re.findall(rf'"({re.escape(VENDOR)}/[^"]+)"', block)
    return p.refs, doc_urls


CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
CSS_URL = re.compile(
    r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]+))\s*\)"""
    r"""|@import\s+(?:"([^"]*)"|'([^']*)')"""
)


def css_urls(text: str) -> list[str]:
    """The url(...) and @import targets of a stylesheet."""
    text = CSS_COMMENT.sub("", text)
    return [next(g for g in m.groups() if g is not None) for m in CSS_URL.finditer(text)]


def vendor_source(rel: str, panel_version: str, bokeh_version: str, pkgs: dict) -> Path:
    """The installed file a vendor/ URL stands for."""
    path = PurePosixPath(rel)
    parts = path.parts
    panel_prefix = (VENDOR, "panel", panel_version, "dist")
    if parts[:4] == panel_prefix:
        return pkgs["panel"] / "dist" / Path(*parts[4:])
    if parts[:3] == (VENDOR, "bokeh", "release"):
        m = re.fullmatch(rf"(bokeh(?:-[a-z]+)?)-{re.escape(bokeh_version)}(\.min)?\.js", parts[3])
        if m:
            return pkgs["bokeh"] / "server" / "static" / "js" / f"{m[1]}{m[2] or ''}.js"
    raise BuildError(f"the page refers to {rel}, which build.py does not know how to vendor")


# Panel stylesheets the live app may ask for after an interaction even if the
# pre-rendered page did not use them (small; never loaded unless referenced).
ALWAYS_VENDOR = ("css", "bundled/theme")


def vendor_assets(staging: Path, pages: list[Path], panel_version: str, bokeh_version: str):
    """Copy every vendor/ file the pages use (and the CSS they pull in) into the site."""
    import bokeh
    import panel

    pkgs = {"panel": Path(panel.__file__).parent, "bokeh": Path(bokeh.__file__).parent}
    todo: list[str] = []
    dist = pkgs["panel"] / "dist"
    for folder in ALWAYS_VENDOR:
        for f in sorted((dist / folder).glob("*.css")):
            todo.append(f"{VENDOR}/panel/{panel_version}/dist/{f.relative_to(dist).as_posix()}")
    required: set[str] = set()  # what a page names must exist; a CSS fallback may not
    for page in pages:
        refs, doc_urls = page_references(page.read_text(encoding="utf-8"))
        for ref in refs + doc_urls:
            parts = urlsplit(ref)
            path = unquote(parts.path).removeprefix("./")
            if not (parts.scheme or parts.netloc) and path.startswith(f"{VENDOR}/"):
                todo.append(path)
                required.add(path)
    done: set[str] = set()
    skipped: list[str] = []
    while todo:
        rel = todo.pop()
        if rel in done:
            continue
        src = vendor_source(rel, panel_version, bokeh_version, pkgs)
        if not src.is_file():
            if rel in required:
                raise BuildError(f"the page refers to {rel}, but {src} does not exist")
            skipped.append(rel)  # e.g. an .svg font that Panel does not ship
            continue
        done.add(rel)
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        if src.suffix == ".css":
            for url in css_urls(src.read_text(encoding="utf-8")):
                if url.startswith(("data:", "#")):
                    continue
                if urlsplit(url).scheme or url.startswith("//"):
                    raise BuildError(f"{rel} loads {url} from another host")
                todo.append(unquote(urlsplit(urljoin("/" + rel, url)).path).lstrip("/"))
    if skipped:
        log(f"not in the installed packages, left out: {', '.join(sorted(skipped))}")
    return sorted(done)


def copy_static(staging: Path) -> list[str]:
    copied = []
    for src in sorted(STATIC.rglob("*")):
        rel = src.relative_to(STATIC)
        if rel.parts[0] == TEMPLATES.name or src.is_dir() or src.name.startswith("."):
            continue
        dest = staging / rel
        if dest.exists():
            raise BuildError(f"static/{rel} would overwrite a generated file")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        copied.append(rel.as_posix())
    return copied


# --------------------------------------------------------------------------- first view

# Share links whose first view is rendered at build time, one document per file
# in PRERENDER/ (read by static/first-view.js).  index.html itself carries the
# default scenario.
PRERENDER = "prerender"
FIRST_VIEW_JS = "first-view.js"


def prerender_queries() -> dict[str, str]:
    """Key -> URL query: every preset, and each of them (and the defaults) with ``embed=1``."""
    from levers import presets

    queries = {"default.embed": "?embed=1"}
    for name in presets.names():
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) or name == "default":
            raise BuildError(f"preset name {name!r} cannot name a file in {PRERENDER}/ (use a-z, 0-9, -)")
        queries[name] = f"?preset={name}"
        queries[f"{name}.embed"] = f"?preset={name}&embed=1"
    return queries


def render_document(app: Path, search: str) -> dict:
    """The app's Bokeh document for the URL query ``search``, as JSON for Bokeh.embed.embed_items.

    The same steps as Panel's converter when it pre-renders the page (a new
    document with a mock session, the app's handler run with it as curdoc), with
    ``pn.state.location.search`` set first, as the browser's location would be.
    """
    from bokeh.core.json_encoder import serialize_json
    from bokeh.embed.util import standalone_docs_json_and_render_items
    from panel.io.application import build_single_handler_application
    from panel.io.document import MockSessionContext
    from panel.io.state import set_curdoc, state

    _, _, convert = import_panel()
    handler_app = build_single_handler_application(str(app))
    document = convert.Document()
    document._session_context = lambda: MockSessionContext(document=document)
    with _Recorder.app_errors() as app_errors, set_curdoc(document):
        state.location.search = search
        handler_app.initialize_document(document)
        state._on_load(None)
    if not document.roots:
        if app_errors.records:
            raise BuildError(f"the app failed while it was pre-rendered for {search!r}: {app_errors.summary()}")
        raise BuildError(f"{app} rendered nothing for {search!r}")
    docs_json, render_items = standalone_docs_json_and_render_items(document)
    return json.loads(serialize_json({"docs_json": docs_json, "render_items": [r.to_json() for r in render_items]}))


def write_prerendered(app: Path, staging: Path, project: Path = ROOT) -> list[str]:
    """Write PRERENDER/<key>.json.gz for every share link of prerender_queries().

    The links are split between this interpreter and a second one started
    beside it (each document takes about 1.3 s to render, on one core), both
    running :func:`prerender_batch`.
    """
    page_roots = len(re.findall(r"\bdata-root-id=", (staging / PAGE).read_text(encoding="utf-8")))
    (staging / PRERENDER).mkdir()
    items = sorted(prerender_queries().items())
    here, there = (items[::2], items[1::2]) if (os.cpu_count() or 1) > 1 else (items, [])
    entry_dir = tempfile.TemporaryDirectory(prefix="cost-levers-entry-")
    try:
        entry = write_entry(app, project, Path(entry_dir.name))
        args = (str(app), str(entry), str(staging), str(project), page_roots)
        child = run_child("prerender_batch", *args, there) if there else None
        try:
            written = prerender_batch(*args, here)
        except BaseException:
            if child is not None:
                child.kill()
                child.communicate()
            raise
        if child is not None:
            written += child_result(child, "pre-rendering the share links")
    finally:
        entry_dir.cleanup()
    return sorted(written)


def prerender_batch(app: str, entry: str, staging: str, project: str, page_roots: int,
                    items: list[tuple[str, str]]) -> list[str]:
    """Render the share links ``items`` (key, URL query) from the entry script and write
    each to PRERENDER/<key>.json.gz in ``staging``; their paths in the site.

    Each document must have ``page_roots`` roots, as index.html has (first-view.js
    embeds them into the page's root elements, in order), and may load only
    files that are in the site.
    """
    import gzip

    _, _, convert = import_panel()
    from panel.io.resources import set_resource_mode

    staging = Path(staging)
    page_template = template_env().get_template("page.html.j2")
    written = []
    sys.path.insert(0, project)
    cwd = os.getcwd()
    try:
        os.chdir(Path(app).parent)
        with (
            converter_configured(convert, worker_template=None, page_template=page_template),
            set_resource_mode("cdn"),
        ):
            for key, search in items:
                doc = render_document(Path(entry), search)
                roots = doc["render_items"][0]["root_ids"]
                if len(roots) != page_roots:
                    raise BuildError(f"{search} renders {len(roots)} roots, {PAGE} has {page_roots}")
                text = json.dumps(doc, separators=(",", ":"))
                for url in re.findall(rf'"({re.escape(VENDOR)}/[^"?#]+)', text):
                    if not (staging / url).is_file():
                        raise BuildError(f"the first view of {search} loads {url}, which is not in the site")
                # gzip (fixed mtime: same build, same bytes): ~15 kB instead of ~170 kB each.
                (staging / PRERENDER / f"{key}.json.gz").write_bytes(gzip.compress(text.encode(), 9, mtime=0))
                written.append(f"{PRERENDER}/{key}.json.gz")
    finally:
        os.chdir(cwd)
        sys.path.remove(project)
    return written


# --------------------------------------------------------------------------- checks


def check_site(staging: Path, pyodide_url: str, worker_name: str, env: Environment):
    """Refuse to publish a site whose pages point at missing files or foreign hosts."""
    problems = []
    for page in sorted(staging.glob("*.html")):
        refs, doc_urls = page_references(page.read_text(encoding="utf-8"))
        for ref in refs + doc_urls:
            parts = urlsplit(ref)
            if parts.scheme in ("http", "https") or parts.netloc:
                problems.append(f"{page.name} loads {ref} from another host")
            elif parts.scheme in ("",) and parts.path:
                target = (page.parent / parts.path).resolve()
                if not target.is_file():
                    problems.append(f"{page.name} refers to {ref}, which is not in the site")
    worker = (staging / worker_name).read_text(encoding="utf-8")
    if json.dumps(pyodide_url) not in worker:
        problems.append(f"{worker_name} does not load Pyodide from {pyodide_url}")
    for spec in env.all_specs():
        if spec.startswith("./"):
            if not (staging / spec).is_file():
                problems.append(f"the worker installs {spec}, which is not in the site")
        elif not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec):
            problems.append(f"the worker installs {spec!r}, neither a site wheel nor a Pyodide package")
        if repr(spec) not in worker:
            problems.append(f"{worker_name} does not install {spec}")
    if problems:
        raise BuildError("the generated site is not self-contained:\n  " + "\n  ".join(problems))


# --------------------------------------------------------------------------- PWA + manifest


def write_pwa(staging: Path, convert, title: str) -> None:
    """Web-app manifest, icons and a service worker whose cache is the content hash."""
    images = staging / "images"
    images.mkdir(exist_ok=True)
    for img in convert.PWA_IMAGES:
        shutil.copyfile(img, images / img.name)
    manifest = json.loads(
        convert.build_pwa_manifest(
            {title: PAGE},
            title=title,
            display="standalone",
            background_color="#ffffff",
            theme_color=THEME_COLOR,
        )
    )
    manifest.update(scope="./", start_url=f"./{PAGE}", description=SITE_DESCRIPTION)
    (staging / "site.webmanifest").write_text(json.dumps(manifest, indent=2) + "\n")


def site_files(staging: Path, exclude=()) -> list[Path]:
    return sorted(p for p in staging.rglob("*") if p.is_file() and p.relative_to(staging).as_posix() not in exclude)


def write_service_worker(staging: Path, pyodide_url: str) -> str:
    files = site_files(staging, exclude={"manifest.json", "serviceWorker.js"})
    digest = hashlib.sha256()
    for p in files:
        digest.update(p.relative_to(staging).as_posix().encode() + b"\0")
        digest.update(sha256_file(p).encode())
    version = digest.hexdigest()[:16]
    precache = [p.relative_to(staging).as_posix() for p in files]
    runtime_prefix = pyodide_url.rsplit("/", 1)[0] + "/"
    sw = (
        template_env()
        .get_template("serviceWorker.js.j2")
        .render(
            version=version,
            precache=precache,
            runtime_prefix=runtime_prefix,
        )
    )
    (staging / "serviceWorker.js").write_text(sw, encoding="utf-8")
    return version


def write_manifest(staging: Path, info: dict) -> dict:
    files = {}
    for p in site_files(staging, exclude={"manifest.json"}):
        files[p.relative_to(staging).as_posix()] = {
            "size": p.stat().st_size,
            "sha256": sha256_file(p),
        }
    manifest = dict(info, files=files)
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return manifest


# --------------------------------------------------------------------------- build


MARKER = "manifest.json"  # written last by every build: the mark of a folder the build may replace
STAGING_TAG = "building"
OLD_TAG = "old"


def _refuse(out: Path, why: str) -> BuildError:
    return BuildError(f"refusing to replace --out {out}: {why}; choose a new or empty folder")


def check_out(out: Path) -> None:
    """Refuse an output folder the build did not write.

    `out` may be missing, empty, or a previous build: a folder whose
    manifest.json names this project and lists every file in it. Anything
    else (the repository, a source folder, a folder with other files) is
    refused before any work starts, so no file the build did not write is
    ever deleted.
    """
    if out in (ROOT, STATIC) or out in ROOT.parents:
        raise _refuse(out, "it holds the project itself")
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise _refuse(out, "it is not a folder")
    try:
        entries = list(os.walk(out, followlinks=False, onerror=_raise))
    except OSError as e:
        raise BuildError(f"cannot read --out {out}: {e.strerror or e}") from None
    if not any(dirs or files for _, dirs, files in entries):
        return  # an empty folder
    try:
        manifest = json.loads((out / MARKER).read_text(encoding="utf-8"))
        listed = set(manifest["files"]) if manifest.get("name") == "cost-levers" else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        listed = None
    if listed is None:
        raise _refuse(out, f"it holds files and no {MARKER} of a previous build")
    allowed_dirs = {p.as_posix() for f in listed for p in PurePosixPath(f).parents}
    foreign = []
    for top, dirs, files in entries:
        rel = Path(top).relative_to(out)
        foreign += [(rel / d).as_posix() for d in dirs
                    if (rel / d).as_posix() not in allowed_dirs or (Path(top) / d).is_symlink()]
        foreign += [(rel / f).as_posix() for f in files if (rel / f).as_posix() not in listed | {MARKER}]
    if foreign:
        shown = ", ".join(sorted(foreign)[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise _refuse(out, f"it holds what the previous build did not write: {shown}")


def _raise(error: OSError) -> None:
    raise error


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def clean_stale(out: Path) -> None:
    """Remove what killed builds left beside `out`; put back a site a crash left aside.

    Staging folders are named ``.<out>.building-<pid>-<random>`` and a site
    set aside during a swap ``.<out>.old-<pid>``; those of a process that is
    no longer running are stale. When `out` is missing but a set-aside site
    exists (a crash between the two renames of a swap without an atomic
    exchange), that site is moved back first.
    """
    parent = out.parent
    if not parent.is_dir():
        return
    own = os.getpid()
    for tag in (OLD_TAG, STAGING_TAG):
        for p in sorted(parent.glob(f".{out.name}.{tag}-*")):
            pid = p.name.rsplit(f".{tag}-", 1)[1].split("-", 1)[0]
            if pid.isdigit() and (int(pid) == own or _pid_alive(int(pid))):
                continue  # a build still running
            if tag == OLD_TAG and not out.exists() and (p / MARKER).is_file():
                log(f"restoring {out} from {p.name}, left aside by an interrupted build")
                os.rename(p, out)
                continue
            log(f"removing {p.name}, left behind by an interrupted build")
            shutil.rmtree(p, ignore_errors=True)


def make_staging(out: Path) -> Path:
    """A new, empty staging folder beside `out` (same filesystem, so the swap is a rename)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(out)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.{STAGING_TAG}-{os.getpid()}-", dir=out.parent))
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # the site's folder as readable as any other, not mkdtemp's 0700
        return staging
    except OSError as e:
        raise BuildError(f"cannot write the site beside --out {out}: {e.strerror or e}") from None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux renameat2 with RENAME_EXCHANGE).

    Returns False where the system or filesystem has no atomic exchange.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(staging: Path, out: Path) -> None:
    """Replace `out` by the finished `staging` folder (both on the same filesystem).

    There is never a moment without `out`: a missing `out` is created by one
    rename, an existing one is exchanged with `staging` in one atomic step
    where the system allows it (the old site then sits in `staging` and is
    removed). Elsewhere it takes two renames; a crash between them leaves the
    old site aside, and the next build puts it back (:func:`clean_stale`).
    """
    if not out.exists() and not out.is_symlink():
        os.rename(staging, out)
        return
    check_out(out)  # again: files may have been added while the site was built
    if _exchange(staging, out):
        shutil.rmtree(staging, ignore_errors=True)
        return
    old = out.with_name(f".{out.name}.{OLD_TAG}-{os.getpid()}")
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def check_data(project: Path) -> None:
    """Validate the project's data files (accelerators, models, API prices, efficiency fit, sustained
    clocks) before anything else runs.

    A bad data file would otherwise fail inside Panel's pre-render, far from
    its cause; here the message names the file and the field. The project's
    own validator runs in a separate interpreter, so nothing it imports is
    left behind for the pre-render.
    """
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from levers import api, efficiency, models, specs\n"
        "from levers.errors import SpecError\n"
        "try:\n"
        "    specs.load_dir(sys.argv[1])\n"
        "    models.load_dir(sys.argv[2])\n"
        "    api.load_dir(sys.argv[4])\n"
        "    checks = ((Path(sys.argv[3]), efficiency.parse), (Path(sys.argv[5]), efficiency.parse_clocks))\n"
        "    for file, parse in checks:\n"
        "        try:\n"
        "            text = file.read_bytes().decode('utf-8')\n"
        "        except UnicodeDecodeError as e:\n"
        "            raise SpecError(str(file), f'not valid UTF-8 text (byte {e.start})') from None\n"
        "        parse(text, str(file))\n"
        "except SpecError as e:\n"
        "    print(e)\n"
        "    sys.exit(3)\n"
    )
    folders = [str(project / "hardware_specs"), str(project / "levers" / "model_specs"),
               str(project / "levers" / "measurements" / "efficiency_fit.toml"), str(project / "levers" / "api_prices"),
               str(project / "levers" / "measurements" / "sustained_clocks.toml")]
    try:
        proc = subprocess.run([sys.executable, "-c", code, *folders], cwd=project, capture_output=True, text=True,
                              timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        raise BuildError(f"could not validate the data files in {project}: {e}") from None
    if proc.returncode == 3:
        raise BuildError(f"invalid data file {proc.stdout.strip()}; fix that file")
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise BuildError(f"could not validate the data files in {project}: {last}")


def build(
    app: Path,
    out: Path,
    *,
    pyodide_url: str | None = None,
    pwa: bool = False,
    project: Path = ROOT,
    bytecode: bool = True,
    title: str = SITE_TITLE,
) -> dict:
    t0 = time.monotonic()
    app = app.resolve()
    out = out.resolve()
    if not app.is_file():
        raise BuildError(f"app {app} does not exist")
    check_out(out)
    check_data(project)
    staging = make_staging(out)
    try:
        panel, bokeh, convert = import_panel()
        pyodide_url = pyodide_url or convert.PYODIDE_URL
        if not urlsplit(pyodide_url).path.endswith("/pyodide.js"):
            raise BuildError(f"--pyodide-url must point at pyodide.js, not {pyodide_url}")
        lock = load_pyodide_lock(convert.PYODIDE_VERSION)

        log("building the project wheel")
        wheels_dir = staging / WHEELS
        wheels_dir.mkdir()
        with tempfile.TemporaryDirectory() as tmp:
            built = build_project_wheel(project, Path(tmp))
            project_wheel = Path(shutil.copyfile(built, wheels_dir / built.name))

        log(f"pre-rendering {app} with Panel {panel.__version__} / Bokeh {bokeh.__version__}")
        env = resolve_environment(project_wheel, lock, set(sys.modules), wheels_dir)
        modules = startup_modules(app, project)
        env.startup = startup_distributions(modules, env)
        env.bytecode = bytecode_tag() if bytecode else ""
        worker_name = convert_app(app, staging, env, pyodide_url=pyodide_url, pwa=pwa, project=project)
        if any(OPTIONAL_IF_UNUSED[n] in sys.modules for n in env.skipped):
            # The app imported a package we had left out: include it and render again.
            for p in wheels_dir.iterdir():
                if p != project_wheel:
                    p.unlink()
            env = resolve_environment(project_wheel, lock, set(sys.modules), wheels_dir)
            env.startup = startup_distributions(modules, env)
            env.bytecode = bytecode_tag() if bytecode else ""
            worker_name = convert_app(app, staging, env, pyodide_url=pyodide_url, pwa=pwa, project=project)
        log(
            "environment: "
            + ", ".join(env.wheels)
            + " from the site; "
            + ", ".join(sorted(env.from_pyodide))
            + " from Pyodide; installed once the app is live: "
            + (", ".join(n for n in (*env.wheels, *sorted(env.from_pyodide)) if not env.at_startup(n)) or "none")
        )
        compiled = byte_compile(env, modules) if env.bytecode else []
        log("bytecode for the start-up modules (Pyodide's CPython): " + ", ".join(
            f"{w} {m} modules" for w, m, _ in (line.split("\t") for line in compiled))
            if compiled else "no bytecode: the site's Python ships as source (--source-only)")

        copied_static = copy_static(staging)
        vendored = vendor_assets(staging, sorted(staging.glob("*.html")), convert.PY_VERSION, convert.BOKEH_VERSION)
        log(f"pre-rendering the first view of {len(prerender_queries())} share links")
        prerendered = write_prerendered(app, staging, project)
        if pwa:
            write_pwa(staging, convert, title)
        check_site(staging, pyodide_url, worker_name, env)
        cache_version = write_service_worker(staging, pyodide_url) if pwa else None

        info = {
            "name": "cost-levers",
            "version": project_wheel.name.split("-")[1],
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "app": os.path.relpath(app, ROOT) if app.is_relative_to(ROOT) else str(app),
            "entry": PAGE,
            "worker": worker_name,
            "versions": {
                "pyodide": convert.PYODIDE_VERSION.lstrip("v"),
                "panel": panel.__version__,
                "bokeh": bokeh.__version__,
                "cost-levers": project_wheel.name.split("-")[1],
            },
            "pyodide_url": pyodide_url,
            "pwa": {"cache_version": cache_version} if pwa else None,
            "environment": {
                "wheels": {n: f"{WHEELS}/{p.name}" for n, p in env.wheels.items()},
                "from_pyodide": env.from_pyodide,
                "skipped": env.skipped,
                "startup": sorted(env.startup or ()),
                "bytecode": {"tag": env.bytecode,
                             "modules": {w: int(m) for w, m, _ in (line.split("\t") for line in compiled)}},
            },
            "vendored": vendored,
            "static": copied_static,
            "prerendered": prerendered,
        }
        manifest = write_manifest(staging, info)
        swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    total = sum(f["size"] for f in manifest["files"].values())
    log(f"wrote {out} ({len(manifest['files'])} files, {total / 1e6:.1f} MB) in {time.monotonic() - t0:.1f}s")
    return manifest


# --------------------------------------------------------------------------- serve


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map: typing.ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".webmanifest": "application/manifest+json",
        ".whl": "application/zip",
    }

    def log_message(self, format, *args):  # quieter than the default
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)

    def end_headers(self):
        # The service worker and pages must be revalidated so new builds show up.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


def make_server(directory: Path, port: int = 8000, host: str = "127.0.0.1", verbose=True):
    handler = functools.partial(_Handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def serve(directory: Path, port: int) -> None:
    server = make_server(directory, port)
    host, port = server.server_address[:2]
    print(f"Serving {directory} at http://{host}:{port}/{PAGE}  (Ctrl+C to stop)", flush=True)
    print(f"Lesson page: http://{host}:{port}/lesson.html", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "app", nargs="?", type=Path, default=DEFAULT_APP, help="Panel app to compile (default: app/main.py)"
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: dist)")
    ap.add_argument(
        "--pyodide-url",
        help="URL of pyodide.js to load the Python runtime from (default: the Pyodide CDN release pinned by Panel)",
    )
    ap.add_argument("--pwa", action="store_true", help="make the site installable and cached for offline use")
    ap.add_argument("--source-only", action="store_true",
                    help="ship the site's Python as source only, with no bytecode for the pinned Pyodide "
                         "(for a runtime other than the one Panel pins; start-up is slower)")
    ap.add_argument("--serve", action="store_true", help="serve the site after building")
    ap.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000)")
    ap.add_argument("--project", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        build(args.app, args.out, pyodide_url=args.pyodide_url, pwa=args.pwa, project=args.project,
              bytecode=not args.source_only)
    except BuildError as e:
        print(f"build.py: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # e.g. a folder that cannot be written: one line, no traceback
        print(f"build.py: error: {e.filename or args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    if args.serve:
        serve(args.out.resolve(), args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
