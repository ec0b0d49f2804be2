"""Compile the start-up modules of pure-Python wheels to bytecode, inside Pyodide's own CPython.

The browser imports Panel, Bokeh and the project from wheels the site serves.
From source, Pyodide compiles each imported module on every visit, on the
visitor's machine. Compiled here by the same CPython the site runs (Pyodide's,
so the magic number matches), each module the app imports before its first
render is shipped as bytecode in place of its source (``x.py`` -> ``x.pyc``,
the layout CPython imports without a source, as Pyodide's own packages do).
Modules imported later stay source, so the wheels grow only by the bytecode of
the start-up path (bytecode compresses about three times worse than source).

A runtime with another Python could not import these files; the worker checks
``sys.implementation.cache_tag`` against the tag printed here before it installs
anything, and says so instead.

Wheels named in ``keep_source`` (the engine and its one dependency, which the
site also serves as an installable offline copy of the engine) keep their
source and carry the bytecode beside it, in ``__pycache__/x.<tag>.pyc``, where
any other CPython ignores it.

``compile_wheels(paths, modules, keep_source)`` rewrites each wheel in place,
deterministically (sorted entries, fixed timestamps, hash-based bytecode that
is not checked against the source) and with its RECORD updated.
"""

import base64
import csv
import hashlib
import importlib.util
import io
import sys
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def module_name(member: str) -> str:
    """``panel/io/state.py`` -> ``panel.io.state``; ``panel/__init__.py`` -> ``panel``."""
    parts = member[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def compile_wheel(path: str, modules, keep_source: bool = False) -> tuple[int, int]:
    """Replace the source of ``modules`` in the wheel at ``path`` by bytecode (or, with
    ``keep_source``, add the bytecode beside it); (modules compiled, bytes of source)."""
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    record_name = next(n for n in members if n.endswith(".dist-info/RECORD"))
    out = {n: d for n, d in members.items() if n != record_name and "__pycache__/" not in n}
    compiled = replaced = 0
    for name, data in sorted(members.items()):
        if not name.endswith(".py") or "__pycache__/" in name or module_name(name) not in modules:
            continue
        code = compile(data, name, "exec", dont_inherit=True, optimize=0)
        pyc = bytes(_code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False))
        if keep_source:
            out[importlib.util.cache_from_source(name)] = pyc
        else:
            out[name + "c"] = pyc
            del out[name]
        compiled += 1
        replaced += len(data)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows((n, _record_hash(d), str(len(d))) for n, d in sorted(out.items()))
    writer.writerow((record_name, "", ""))
    out[record_name] = buf.getvalue().encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(out):
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, out[name])
    return compiled, replaced


def compile_wheels(paths, modules, keep_source=()) -> str:
    """``compile_wheel`` for each path (``keep_source``: wheel file names). First line: the
    interpreter's cache tag; then one line per wheel: name, modules compiled, bytes of source."""
    modules, keep_source = set(modules), set(keep_source)
    lines = [sys.implementation.cache_tag]
    for p in paths:
        compiled, replaced = compile_wheel(p, modules, p.rsplit("/", 1)[-1] in keep_source)
        lines.append(f"{p.rsplit('/', 1)[-1]}\t{compiled}\t{replaced}")
    return "\n".join(lines)
