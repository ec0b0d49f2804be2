"""Dry run of a built site's worker: its exact Python, executed in CPython.

The worker script (``main.js``) hands Pyodide a few Python sources with
``runPythonAsync``. This module takes them out of the built script (with
build.py's own reader), and runs the ones that make the app live in this
interpreter, with stand-ins for the modules that only exist in a browser:

* ``js`` without ``document``, so Panel takes its web-worker code path;
* ``_pyodide`` (whose presence tells Panel it runs in Pyodide), ``pyodide``
  with ``ffi``, ``code`` and ``http``;
* ``pyodide_http``, only when the built worker installs ``pyodide-http``.

Every other import is checked against what the worker installs: the wheels
in the site and the Pyodide packages it names, with their dependencies in
Pyodide's lock. An import of anything else fails here, as it would in a
visitor's browser (a guarded import falls back as it would there); the
distributions imported are reported so a test can compare them.

Run it in a fresh interpreter (the import record starts empty)::

    python tests/worker_dryrun.py SITE [--search '?preset=lesson']

It prints one JSON object: ``waterfall`` (the columns of the live document's
``ColumnDataSource`` named ``waterfall``), ``notices`` (text of the app's
notice panes), ``imported`` (distributions imported), ``blocked`` (imports
refused and caught by the importer), ``installed`` (what the worker installs).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import importlib.abc
import importlib.metadata
import importlib.util
import inspect
import json
import re
import sys
import textwrap
import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK = REPO_ROOT / "node_modules" / "pyodide" / "pyodide-lock.json"
#: Modules that exist only in the browser; stand-ins are made below.
BROWSER_ONLY = ("js", "_pyodide", "pyodide", "pyodide_http")


def load_build():
    """build.py as a module (named apart from PyPA's ``build``)."""
    name = "cost_levers_build"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_by_worker(worker_js: str, lock: dict) -> set[str]:
    """Distributions the worker installs: the site's wheels, and Pyodide packages with their lock dependencies."""
    m = re.search(r"micropip\.install\(\[(.*?)\]", worker_js, re.S)
    if not m:
        raise SystemExit("the worker does not call micropip.install([...])")
    specs = re.findall(r"'([^']*)'", m.group(1))
    out: set[str] = set()
    todo = []
    for spec in specs:
        if spec.endswith(".whl"):
            out.add(norm(Path(spec).name.split("-")[0]))
        else:
            todo.append(norm(spec))
    packages = {norm(k): v for k, v in lock["packages"].items()}
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        todo += [norm(d) for d in packages.get(name, {}).get("depends", [])]
    return out | {"micropip"}


def make_stand_ins(with_pyodide_http: bool) -> dict[str, types.ModuleType]:
    """Minimal modules for what Panel's worker path reads from the browser."""

    class _JSON:
        @staticmethod
        def parse(text):
            return json.loads(text)

        @staticmethod
        def stringify(value):
            return json.dumps(value)

    class _XMLHttpRequest:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("no network in the dry run")

    js = types.ModuleType("js")
    js.JSON = _JSON
    js.XMLHttpRequest = _XMLHttpRequest
    js.console = types.SimpleNamespace(log=lambda *a: None, error=lambda *a: None, warn=lambda *a: None)

    pyodide = types.ModuleType("pyodide")
    pyodide.__path__ = []  # a package, so `import pyodide.ffi` works
    ffi = types.ModuleType("pyodide.ffi")
    ffi.to_js = lambda value, **kwargs: value
    ffi.create_proxy = lambda fn, **kwargs: fn
    ffi.jsnull = object()
    ffi.JsProxy = type("JsProxy", (), {})
    ffi.JsException = type("JsException", (Exception,), {})
    code = types.ModuleType("pyodide.code")
    code.run_js = lambda source: (lambda *args, **kwargs: None)
    http = types.ModuleType("pyodide.http")

    def _no_network(*args, **kwargs):
        raise RuntimeError("no network in the dry run")

    http.open_url = _no_network
    http.pyfetch = _no_network
    pyodide.ffi, pyodide.code, pyodide.http = ffi, code, http
    mods = {"js": js, "_pyodide": types.ModuleType("_pyodide"), "pyodide": pyodide,
            "pyodide.ffi": ffi, "pyodide.code": code, "pyodide.http": http}
    if with_pyodide_http:
        ph = types.ModuleType("pyodide_http")
        ph.patch_all = lambda: None
        mods["pyodide_http"] = ph
    return mods


class Gate(importlib.abc.MetaPathFinder):
    """The interpreter's finders, less the distributions the worker does not install.

    It stands in front of the path-based finders: what the worker installs (and
    the standard library, the stand-ins, modules of no distribution) is found as
    usual; anything else is not found, as in the browser, so ``import x`` raises
    ``ModuleNotFoundError`` and ``importlib.util.find_spec("x")`` is None. Both
    kinds are recorded.
    """

    def __init__(self, allowed: set[str], finders: list):
        self.allowed = allowed
        self.finders = finders
        self.owners = {top: {norm(d) for d in dists}
                       for top, dists in importlib.metadata.packages_distributions().items()}
        build = load_build()
        for top in build.WHEEL_PACKAGES:
            self.owners[top] = {"cost-levers"}
        self.imported: set[str] = set()
        self.blocked: set[str] = set()

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        owners = self.owners.get(top)
        if owners is not None and top not in sys.stdlib_module_names and top not in BROWSER_ONLY:
            if not owners & self.allowed:
                self.blocked.add(f"{top} ({', '.join(sorted(owners))})")
                return None
            self.imported |= owners & self.allowed
        for finder in self.finders:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                return spec
        return None

    def find_distributions(self, context=None):
        """Metadata of the installed distributions only (``importlib.metadata`` asks the finders)."""
        context = context or importlib.metadata.DistributionFinder.Context()
        for finder in self.finders:
            for dist in getattr(finder, "find_distributions", lambda c: ())(context):
                if norm(dist.metadata["Name"] or "") in self.allowed:
                    yield dist

    def __enter__(self):
        self._saved = list(sys.meta_path)
        keep = [f for f in self._saved if f not in self.finders]
        sys.meta_path[:] = [*keep, self]
        return self

    def __exit__(self, *exc):
        sys.meta_path[:] = self._saved


def path_finders() -> list:
    """The meta path finders that look in sys.path and editable installs (not builtins or frozen)."""
    from importlib.machinery import BuiltinImporter, FrozenImporter

    return [f for f in sys.meta_path if f not in (BuiltinImporter, FrozenImporter)]


def collect(doc) -> dict:
    """The waterfall columns and the notices shown, from the document's models."""
    from bokeh.models import ColumnDataSource

    waterfall = None
    notices = []
    for model in doc.models:
        if isinstance(model, ColumnDataSource) and model.name == "waterfall":
            waterfall = {k: list(v) for k, v in model.data.items() if k in ("lever", "cost_per_day", "multiplier")}
        text = getattr(model, "text", None)
        if isinstance(text, str) and ("notice" in " ".join(getattr(model, "css_classes", []) or [])
                                      or "cl-notice" in text):
            notices.append(text)
    return {"waterfall": waterfall, "notices": notices}


def run_like_pyodide(source: str, filename: str, namespace: dict, loop):
    """Run ``source`` as ``runPythonAsync`` does: dedented, top-level await, value of the last expression."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree = compile(textwrap.dedent(source), filename, "exec", flags=ast.PyCF_ONLY_AST | flags, dont_inherit=True)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    value = None
    for code in (compile(tree, filename, "exec", flags=flags, dont_inherit=True),
                 last and compile(ast.Expression(last.value), filename, "eval", flags=flags, dont_inherit=True)):
        if code is None:
            continue
        value = eval(code, namespace)
        if inspect.iscoroutine(value):
            value = loop.run_until_complete(value)
    return value if last else None


def dry_run(site: Path, search: str = "") -> dict:
    """Run the built worker's Python for ``site``; apply ``search`` as the page's location."""
    build = load_build()
    worker_name = json.loads((site / "manifest.json").read_text())["worker"]
    worker_js = (site / worker_name).read_text(encoding="utf-8")
    lock = json.loads(LOCK.read_text())
    allowed = installed_by_worker(worker_js, lock)

    sources = [src for _, src in build.worker_python(worker_js)]
    main = next(s for s in sources if "write_doc" in s)
    location = next(s for s in sources if "state.location.param.update" in s)

    sys.modules.update(make_stand_ins("pyodide-http" in allowed))
    gate = Gate(allowed, path_finders()).__enter__()
    namespace: dict = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        build.compile_worker_python(main, worker_name)  # as the build checks it
        _docs_json, _render_items, root_ids = run_like_pyodide(main, worker_name, namespace, loop)
        if search:
            href = f"http://127.0.0.1:8000/index.html{search}"
            namespace["location"] = json.dumps({
                "href": href, "protocol": "http:", "hostname": "127.0.0.1", "port": "8000",
                "pathname": "/index.html", "search": search, "hash": "",
            })
            run_like_pyodide(location, worker_name, namespace, loop)
            loop.run_until_complete(asyncio.sleep(0.05))  # let scheduled callbacks run
        from panel.io.state import state

        report = collect(state.curdoc)
    except Exception as e:
        e.add_note(f"imports refused, not installed by the worker: {', '.join(sorted(gate.blocked)) or 'none'}")
        raise
    finally:
        gate.__exit__(None, None, None)
        loop.close()
    report.update(
        rendered_roots=len(json.loads(root_ids)),
        imported=sorted(gate.imported),
        blocked=sorted(gate.blocked),
        installed=sorted(allowed),
    )
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site", type=Path)
    ap.add_argument("--search", default="", help="the page's query string, e.g. '?preset=lesson'")
    args = ap.parse_args(argv)
    print(json.dumps(dry_run(args.site, args.search)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
