"""The compiled site with a real Pyodide behind it: where the runtime comes from, and serving both.

Used by ``tests/test_site_live.py`` and ``bench/site.py``.

Which Pyodide the site loads:

* ``COST_LEVERS_PYODIDE_URL`` set: that ``pyodide.js`` (the pinned CDN, a
  mirror of one's own). The caller must fail, not skip, when it cannot be
  reached.
* Otherwise a local stand-in for the Pyodide CDN, assembled by
  ``../shared/pyodide-mirror/assemble.py`` (see its ``PROVENANCE.md``) from the
  npm package's core, the compiled wheels kept there and PyPI's pure wheels at
  the lock's exact versions. It is a test fixture: it is never part of a built
  site, and the build does not depend on it. It is cached in
  ``.cache/pyodide-mirror/`` (git ignores it) per set of packages.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MIRROR_SOURCE = REPO_ROOT.parent / "shared" / "pyodide-mirror"
MIRROR_CACHE = REPO_ROOT / ".cache" / "pyodide-mirror"
PYODIDE_CORE = REPO_ROOT / "node_modules" / "pyodide"
URL_ENV = "COST_LEVERS_PYODIDE_URL"


class Unavailable(RuntimeError):
    """The Pyodide runtime for the live site cannot be had here; the message says why."""


def _cors_handler():
    """The site's own request handler (build.py), also telling browsers that any origin may read."""
    from worker_dryrun import load_build

    class CorsHandler(load_build()._Handler):
        def end_headers(self):
            # The worker fetches the runtime from another origin (another port).
            self.send_header("Access-Control-Allow-Origin", "*")
            super().end_headers()

    return CorsHandler


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A page closed while it was still downloading resets its connection: not an error of the site.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Served:
    """A folder served on 127.0.0.1 (any free port) from a background thread, by build.py's handler.

    ``cors=True`` lets pages of other origins read it (the Pyodide stand-in).
    """

    def __init__(self, folder: Path, *, cors: bool = False):
        from worker_dryrun import load_build

        cls = _cors_handler() if cors else load_build()._Handler
        self.server = _Server(("127.0.0.1", 0), functools.partial(cls, directory=str(folder)))
        self.server.verbose = False  # read by the handler's log_message
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def assemble_mirror(packages: list[str]) -> Path:
    """The stand-in CDN holding Pyodide's core and ``packages`` (with their lock dependencies).

    Raises
    ------
    Unavailable
        When the stand-in's sources are not beside the checkout, the npm core is
        missing, or ``assemble.py`` fails (e.g. PyPI unreachable for a pure wheel).
    """
    script = MIRROR_SOURCE / "assemble.py"
    if not script.is_file():
        raise Unavailable(f"{script} is missing: the offline Pyodide stand-in lives beside the checkout")
    if not (PYODIDE_CORE / "pyodide.asm.wasm").is_file():
        raise Unavailable(f"{PYODIDE_CORE} has no Pyodide core: run `npm ci`")
    key = hashlib.sha256(json.dumps(sorted(packages)).encode()).hexdigest()[:12]
    out = MIRROR_CACHE / key
    if (out / "pyodide-lock.json").is_file() and (out / ".complete").is_file():
        return out
    cmd = [sys.executable, str(script), str(out), "--core", str(PYODIDE_CORE), "--packages", *packages]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise Unavailable(f"assembling the Pyodide stand-in failed: {(proc.stderr or proc.stdout).strip()[-800:]}")
    (out / ".complete").write_text(" ".join(sorted(packages)) + "\n")
    return out


def check_reachable(url: str, timeout: float = 10) -> None:
    """Raise :class:`Unavailable` unless ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            if r.status != 200:
                raise Unavailable(f"{url} answered {r.status}")
    except OSError as e:
        raise Unavailable(f"{url} is unreachable: {e}") from e


def build_site(out: Path, pyodide_url: str, *args: str) -> dict:
    """``python build.py --out OUT --pyodide-url URL [ARGS]``; the site's manifest."""
    cmd = [sys.executable, str(REPO_ROOT / "build.py"), "--out", str(out), "--pyodide-url", pyodide_url, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"build.py failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads((out / "manifest.json").read_text())


class LiveSite:
    """A built site and the Pyodide it loads, both served on localhost while in use.

    Attributes
    ----------
    origin
        Where the site is served.
    pyodide_url
        The ``pyodide.js`` the site loads.
    source
        ``"stand-in"`` or ``"COST_LEVERS_PYODIDE_URL"``.
    manifest
        The built site's manifest.
    mirror
        The stand-in's folder (None with ``COST_LEVERS_PYODIDE_URL``).
    """

    def __init__(self, out: Path, *build_args: str):
        self.out = out
        self.build_args = build_args
        self.mirror: Path | None = None
        self._stack: list = []

    def __enter__(self) -> LiveSite:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        url = os.environ.get(URL_ENV)
        if url:
            check_reachable(url)
            self.source, self.pyodide_url = URL_ENV, url
            self.manifest = build_site(self.out, url, *self.build_args)
        else:
            self.source = "stand-in"
            mirror_dir = MIRROR_CACHE / "serve"
            mirror_dir.mkdir(parents=True, exist_ok=True)
            # The port must be known before the build; the packages only after it.
            link = mirror_dir / "current"
            mirror = Served(mirror_dir, cors=True)
            self._stack.append(mirror.__enter__())
            self.pyodide_url = f"{mirror.origin}/current/pyodide.js"
            self.manifest = build_site(self.out, self.pyodide_url, *self.build_args)
            assembled = self.mirror = assemble_mirror(sorted(self.manifest["environment"]["from_pyodide"]))
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(assembled, target_is_directory=True)
        site = Served(self.out)
        self._stack.append(site.__enter__())
        self.origin = site.origin

    def __exit__(self, *exc):
        while self._stack:
            self._stack.pop().__exit__(*exc)
