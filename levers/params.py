"""Parameter types that carry a unit, and text parsing that names the field.

Every input of the calculator is declared once, as a ``param`` parameter with
its bounds, default, doc and unit. The CLI (``--set key=value``), the share-URL
query and the app's widgets all go through :func:`parse_value` and
:func:`allowed`, so a bad value gets the same message everywhere.
"""

from __future__ import annotations

import math
import numbers
import re

import param
from param.parameterized import Undefined

from .errors import InputError


def _with_unit(base: type, name: str, doc: str) -> type:
    """A subclass of the parameter type ``base`` with a ``unit`` slot."""

    def __init__(self, default=Undefined, *, unit=Undefined, **kwargs):
        base.__init__(self, default=default, **kwargs)
        self.unit = "" if unit is Undefined else unit

    return type(name, (base,), {
        "__slots__": ["unit"],
        "_slot_defaults": dict(base._slot_defaults, unit=""),
        "__init__": __init__,
        "__doc__": doc,
        "__module__": __name__,
    })


Quantity = _with_unit(param.Number, "Quantity", "A real-valued input with a unit, e.g. ``[requests/day]``.")
Count = _with_unit(param.Integer, "Count", "An integer input with a unit, e.g. ``[tokens]``.")
Choice = _with_unit(param.Selector, "Choice", "One of a fixed set of named options.")
Flag = _with_unit(param.Boolean, "Flag", "An on/off input.")
Choices = _with_unit(param.ListSelector, "Choices",
                     "Any subset of a fixed set of named options (comma-separated as text).")
Ordering = _with_unit(param.ListSelector, "Ordering",
                      "All of a fixed set of named options, in an order (comma-separated as text; "
                      "options left out follow in their declared order).")


def _fmt_num(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:g}"


def allowed(p: param.Parameter) -> str:
    """Describe the values a parameter accepts, for error messages and docs.

    Parameters
    ----------
    p
        A parameter declared with one of this module's types.

    Returns
    -------
    str
        For example ``"a number from 0 to 1 [share]"`` or
        ``"one of: static, continuous"``.
    """
    unit = f" [{p.unit}]" if getattr(p, "unit", "") else ""
    if isinstance(p, Ref):
        return "one of: " + ", ".join(p.catalog())
    if isinstance(p, Ordering):
        return "a comma-separated order of: " + ", ".join(map(str, p.objects))
    if isinstance(p, param.ListSelector):
        return "a comma-separated subset of: " + ", ".join(map(str, p.objects))
    if isinstance(p, param.Selector):
        return "one of: " + ", ".join(map(str, p.objects))
    if isinstance(p, param.Boolean):
        return "true or false"
    kind = "a whole number" if isinstance(p, param.Integer) else "a number"
    lo, hi = p.bounds if p.bounds else (None, None)
    if lo is not None and hi is not None:
        return f"{kind} from {_fmt_num(lo)} to {_fmt_num(hi)}{unit}"
    if lo is not None:
        return f"{kind} of at least {_fmt_num(lo)}{unit}"
    return f"{kind}{unit}"


#: A number as text: ASCII digits, an optional sign, decimal point and exponent.
#: Thousands may be grouped in threes with commas (``1,000,000``) or underscores
#: (``1_000_000``), never mixed; a comma is never a decimal mark.
_INT = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?:_[0-9]{3})+|[0-9]+)"
_NUMBER = re.compile(rf"[+-]?(?:{_INT}(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
#: A comma used as a decimal mark, as in ``2,50`` or ``0,9``.
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+", re.ASCII)


def _number_text(text: str, bad: InputError, name: str) -> float:
    """Read a number typed as text; refuse anything but plain ASCII notation."""
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return float(text.replace(",", "").replace("_", ""))
    if not text.isascii():
        raise InputError(name, f"{bad.message}; write the number with the digits 0-9") from None
    if _DECIMAL_COMMA.fullmatch(text):
        raise InputError(name, f"{bad.message}; use a decimal point ({text.replace(',', '.')}), "
                               "a comma only groups thousands (1,000,000)") from None
    raise bad


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(p: param.Parameter, name: str, value):
    """Turn text (or a Python value) into a valid value for ``p``.

    Parameters
    ----------
    p
        The parameter's declaration.
    name
        The key as the user typed it, used in the message.
    value
        A string from the CLI or a URL, or an already-typed Python value.

    Returns
    -------
    object
        The value, converted to the parameter's type and checked against its
        bounds or options.

    Raises
    ------
    InputError
        When the value cannot be converted or lies outside what is allowed;
        the message names ``name`` and the allowed range.
    """
    bad = InputError(name, f"got {str(value)[:60]!r}; allowed: {allowed(p)}")
    if isinstance(p, Ref):
        v = value.strip() if isinstance(value, str) else value
        if v not in p.catalog():
            raise bad
        return v
    if isinstance(p, param.ListSelector):
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, list | tuple | set | frozenset):
            items = list(value)
        elif value is None:
            items = []
        else:
            raise bad
        items = [str(i).strip() for i in items if str(i).strip()]
        if any(i not in p.objects for i in items):
            raise bad
        if isinstance(p, Ordering):
            if len(set(items)) != len(items):
                raise bad
            return items + [o for o in p.objects if o not in items]  # the rest in declared order
        return [o for o in p.objects if o in items]  # canonical order, no repeats
    if isinstance(p, param.Selector):
        v = value.strip() if isinstance(value, str) else value
        if v not in p.objects:
            raise bad
        return v
    if isinstance(p, param.Boolean):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise bad
    # Numbers
    if isinstance(value, str):
        x = _number_text(value, bad, name)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            x = float(value)
        except (TypeError, ValueError, OverflowError):
            raise bad from None
    else:
        raise bad
    if not math.isfinite(x):
        raise bad
    x += 0.0  # -0 is 0: never shown as "-0"
    if isinstance(p, param.Integer):
        if not x.is_integer():
            raise bad
        x = int(x)
    if p.bounds:
        lo, hi = p.bounds
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            raise bad
    return x


class Ref(param.String):
    """An id from a data catalog (accelerators or models), checked lazily.

    The catalog is read on first use, never at import time, so declaring a
    scenario costs nothing. ``catalog`` is a zero-argument callable returning
    the allowed ids.
    """

    __slots__ = ["catalog", "unit"]
    _slot_defaults = dict(param.String._slot_defaults, unit="", catalog=None)

    def __init__(self, default=Undefined, *, catalog=Undefined, unit=Undefined, **kwargs):
        super().__init__(default=default, **kwargs)
        self.unit = "" if unit is Undefined else unit
        self.catalog = None if catalog is Undefined else catalog
