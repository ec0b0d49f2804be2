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
import functools
import hashlib
import html.parser
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
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
PAGE = "index.html"

# Packages that Panel declares but that are only imported by optional features;
# they are left out of the browser environment unless the app imports them.
OPTIONAL_IF_UNUSED = {"panel-material-ui": "panel_material_ui"}

# Parts of installed packages that the browser never needs (the JS/CSS bundles
# are served from vendor/ instead, like the wheels on Panel's own CDN).
STRIP = {
    "panel": (
        re.compile(r"^panel/dist/(bundled|lib|dts)/"),
        re.compile(r"^panel/dist/[^/]+\.(js|map|json)$"),
        re.compile(r"^panel/tests/"),
    ),
    "bokeh": (
        re.compile(r"^bokeh/server/static/"),
        re.compile(r"^bokeh/sampledata/_data/"),
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

    def specs(self) -> list[str]:
        urls = [f"./{WHEELS}/{p.name}" for p in self.wheels.values()]
        return urls + sorted(self.from_pyodide)


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
    missing = {"levers", "app", "hardware_specs"} - tops
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


def convert_app(app: Path, staging: Path, env: Environment, *, pyodide_url: str, pwa: bool):
    """Run Panel's converter on the app; write index.html and the worker script."""
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
            + f" and {len(env.wheels) + len(env.from_pyodide) - 3} more packages",
        },
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
    sys.path.insert(0, str(ROOT))
    cwd = os.getcwd()
    try:
        os.chdir(app.parent)
        with (
            converter_configured(convert, worker_template=worker_template, page_template=page_template),
            set_resource_mode("cdn"),
        ):
            html, worker = convert.script_to_html(
                str(app),
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

        raise BuildError(
            f"Panel could not convert {app}: {type(e).__name__}: {e}\n" + "".join(traceback.format_exception(e)[-6:])
        ) from e
    finally:
        os.chdir(cwd)
        sys.path.remove(str(ROOT))
    if not worker:
        raise BuildError("Panel's converter produced no worker script")
    worker_name = f"{app.stem}.js"
    (staging / PAGE).write_text(html, encoding="utf-8")
    (staging / worker_name).write_text(worker, encoding="utf-8")
    return worker_name


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
    with set_curdoc(document):
        state.location.search = search
        handler_app.initialize_document(document)
        state._on_load(None)
    if not document.roots:
        raise BuildError(f"{app} rendered nothing for {search!r}")
    docs_json, render_items = standalone_docs_json_and_render_items(document)
    return json.loads(serialize_json({"docs_json": docs_json, "render_items": [r.to_json() for r in render_items]}))


def write_prerendered(app: Path, staging: Path) -> list[str]:
    """Write PRERENDER/<key>.json for every share link of prerender_queries().

    Each document must have as many roots as index.html's (first-view.js embeds
    them into the page's root elements, in order) and may load only files that
    are in the site.
    """
    _, _, convert = import_panel()
    from panel.io.resources import set_resource_mode

    page_roots = len(re.findall(r"\bdata-root-id=", (staging / PAGE).read_text(encoding="utf-8")))
    page_template = template_env().get_template("page.html.j2")
    folder = staging / PRERENDER
    folder.mkdir()
    written = []
    sys.path.insert(0, str(ROOT))
    cwd = os.getcwd()
    try:
        os.chdir(app.parent)
        with (
            converter_configured(convert, worker_template=None, page_template=page_template),
            set_resource_mode("cdn"),
        ):
            for key, search in prerender_queries().items():
                doc = render_document(app, search)
                roots = doc["render_items"][0]["root_ids"]
                if len(roots) != page_roots:
                    raise BuildError(f"{search} renders {len(roots)} roots, {PAGE} has {page_roots}")
                text = json.dumps(doc, separators=(",", ":"))
                for url in re.findall(rf'"({re.escape(VENDOR)}/[^"?#]+)', text):
                    if not (staging / url).is_file():
                        raise BuildError(f"the first view of {search} loads {url}, which is not in the site")
                (folder / f"{key}.json").write_text(text, encoding="utf-8")
                written.append(f"{PRERENDER}/{key}.json")
    finally:
        os.chdir(cwd)
        sys.path.remove(str(ROOT))
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
    for spec in env.specs():
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


def swap_into_place(staging: Path, out: Path) -> None:
    """Replace `out` by the finished `staging` folder (both on the same filesystem)."""
    old = None
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise BuildError(f"{out} exists and is not a folder")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.rename(out, old)
    try:
        os.rename(staging, out)
    except OSError:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build(
    app: Path,
    out: Path,
    *,
    pyodide_url: str | None = None,
    pwa: bool = False,
    project: Path = ROOT,
    title: str = SITE_TITLE,
) -> dict:
    t0 = time.monotonic()
    app = app.resolve()
    out = out.resolve()
    if not app.is_file():
        raise BuildError(f"app {app} does not exist")
    if out in (ROOT, STATIC) or out in ROOT.parents:
        raise BuildError(f"refusing to replace {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
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
        worker_name = convert_app(app, staging, env, pyodide_url=pyodide_url, pwa=pwa)
        if any(OPTIONAL_IF_UNUSED[n] in sys.modules for n in env.skipped):
            # The app imported a package we had left out: include it and render again.
            for p in wheels_dir.iterdir():
                if p != project_wheel:
                    p.unlink()
            env = resolve_environment(project_wheel, lock, set(sys.modules), wheels_dir)
            worker_name = convert_app(app, staging, env, pyodide_url=pyodide_url, pwa=pwa)
        log(
            "environment: "
            + ", ".join(env.wheels)
            + " from the site; "
            + ", ".join(sorted(env.from_pyodide))
            + " from Pyodide"
        )

        copied_static = copy_static(staging)
        vendored = vendor_assets(staging, sorted(staging.glob("*.html")), convert.PY_VERSION, convert.BOKEH_VERSION)
        log(f"pre-rendering the first view of {len(prerender_queries())} share links")
        prerendered = write_prerendered(app, staging)
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
    ap.add_argument("--serve", action="store_true", help="serve the site after building")
    ap.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000)")
    ap.add_argument("--project", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        build(args.app, args.out, pyodide_url=args.pyodide_url, pwa=args.pwa, project=args.project)
    except BuildError as e:
        print(f"build.py: error: {e}", file=sys.stderr)
        return 1
    if args.serve:
        serve(args.out.resolve(), args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
