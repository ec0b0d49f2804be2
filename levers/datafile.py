"""The one validator for the data files (accelerators and models).

Both catalogs are TOML files whose every field is declared in a schema of
:class:`Field` entries: its kind, whether it is required and, for numbers, the
plausible range with its unit. :func:`read` turns a file into a dict (UTF-8 and
TOML errors name the file), :func:`check_table` checks one table against its
schema. Every problem is a :class:`~levers.errors.SpecError` whose message
names the file and the field, e.g.::

    hardware_specs/h100.toml: memory.hbm_GB: must be a number from 1 to 10,000 [GB], got 1e+308

The module uses only the standard library.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from .errors import SpecError

__all__ = ["Field", "check_table", "parse_text", "read"]

_AS_OF_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$", re.ASCII)


@dataclass(frozen=True)
class Field:
    """One field of a data file.

    Parameters
    ----------
    kind
        ``"str"``, ``"number"``, ``"int"`` (a whole number), ``"bool"`` or
        ``"date"`` (ISO ``yyyy-mm`` or ``yyyy-mm-dd``).
    required
        Whether the file must give the field.
    lo, hi
        Plausible range of a number, both ends allowed.
    unit
        Unit of a number, shown in messages, e.g. ``"GB"``.
    """

    kind: str
    required: bool = True
    lo: float | None = None
    hi: float | None = None
    unit: str = ""

    def allowed(self) -> str:
        """What the field accepts, for messages."""
        if self.kind in ("number", "int"):
            what = "a whole number" if self.kind == "int" else "a number"
            unit = f" [{self.unit}]" if self.unit else ""
            return f"{what} from {_fmt(self.lo)} to {_fmt(self.hi)}{unit}"
        return {
            "str": "non-empty text",
            "bool": "true or false",
            "date": "an ISO date 'yyyy-mm' or 'yyyy-mm-dd'",
        }[self.kind]


def _fmt(x: float | None) -> str:
    if x is None:
        return "any"
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _show(value: Any) -> str:
    """Render a TOML value for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value[:60])
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


def check_value(filename: str, key: str, field: Field, value: Any) -> Any:
    """Validate one value; return it normalised (numbers as float or int, dates as str).

    Raises
    ------
    SpecError
        Naming ``filename`` and ``key`` and what the field accepts.
    """
    bad = SpecError(f"{filename}: {key}", f"must be {field.allowed()}, got {_show(value)}")
    if field.kind in ("number", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise bad
        if field.kind == "int" and value != int(value):
            raise bad
        if (field.lo is not None and value < field.lo) or (field.hi is not None and value > field.hi):
            raise bad
        return int(value) if field.kind == "int" else float(value)
    if field.kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise bad
        return value.strip()
    if field.kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if field.kind == "date":
        if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
            return value.isoformat()
        if not isinstance(value, str):
            raise bad
        m = _AS_OF_RE.match(value.strip())
        if not m:
            raise bad
        try:
            _dt.date(int(m[1]), int(m[2]), int(m[3] or 1))
        except ValueError:
            raise bad from None
        return value.strip()
    raise ValueError(f"unknown field kind {field.kind!r}")  # pragma: no cover - a schema bug


def check_table(filename: str, prefix: str, data: dict[str, Any], schema: dict[str, Field]) -> dict[str, Any]:
    """Validate a table against ``schema``: no unknown keys, required keys present, values in range.

    Parameters
    ----------
    filename
        Name used in messages.
    prefix
        Prepended to each key in messages (``"memory."`` for a sub-table).
    data
        The table as parsed from TOML.
    schema
        ``{key: Field}``.

    Returns
    -------
    dict
        The given keys with normalised values.

    Raises
    ------
    SpecError
        For the first problem found, naming the file and the field.
    """
    for key in data:
        if key not in schema:
            raise SpecError(f"{filename}: {prefix}{key}", f"unknown key; allowed: {', '.join(schema)}")
    out: dict[str, Any] = {}
    for key, field in schema.items():
        if key not in data:
            if field.required:
                raise SpecError(f"{filename}: {prefix}{key}", f"missing required field ({field.allowed()})")
            continue
        out[key] = check_value(filename, prefix + key, field, data[key])
    return out


def check_keys(filename: str, where: str, data: dict[str, Any], allowed) -> None:
    """Refuse any key of ``data`` not in ``allowed``, naming the file, the table (``where``,
    ``""`` for the top level) and the allowed keys.

    Raises
    ------
    SpecError
        At the first unknown key.
    """
    for key in data:
        if key not in allowed:
            raise SpecError(f"{filename}: {where}{'.' if where else ''}{key}",
                            f"unknown key; allowed: {', '.join(sorted(allowed))}")


def parse_text(text: str, filename: str) -> dict[str, Any]:
    """Parse TOML text, naming ``filename`` when it is malformed.

    Raises
    ------
    SpecError
        If the text is not valid TOML.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(filename, f"invalid TOML: {exc}") from None


def read(entry: Any, filename: str) -> dict[str, Any]:
    """Read and parse one data file.

    Parameters
    ----------
    entry
        A :class:`pathlib.Path` or an ``importlib.resources`` traversable.
    filename
        Name used in messages.

    Raises
    ------
    SpecError
        If the file cannot be read, is not UTF-8 text, or is not valid TOML.
    """
    try:
        raw = entry.read_bytes()
    except OSError as exc:
        raise SpecError(filename, f"cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(filename, f"not valid UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
                                  "save the file as UTF-8") from None
    return parse_text(text, filename)
