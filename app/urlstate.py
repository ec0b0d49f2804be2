"""Share-URL state: the query string <-> preset, scenario, training inputs, view.

The query uses the engine's key names (``?preset=chatbot&cache_hit_rate=0.5``)
and holds only what differs from the starting point: the preset's values
when ``preset=`` is given, else the engine's defaults. Training inputs carry a
``train.`` prefix (``train.mfu`` is not the serving ``mfu``), price overrides
``train.price.<accelerator id>``. Keys with a ``b.`` prefix define a second
scenario on top of the first (:mod:`levers.compare`). View options: ``embed``, ``theme``,
``yaxis`` and ``tab``.

Every value goes through the engine's own parsing
(:func:`levers.params.parse_value`, :meth:`levers.Scenario.from_mapping`,
:func:`levers.waterfall`, :func:`levers.training_table`), so a rejected key is
reported with the engine's message, which names the allowed range. Nothing
here renders HTML; callers escape what they show.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode

import levers
from levers import compare, presets, specs
from levers.errors import InputError
from levers.params import Choice, Flag, parse_value
from levers.scenario import Scenario
from levers.training import TrainingInputs

log = logging.getLogger(__name__)

TRAIN_PREFIX = "train."
PRICE_PREFIX = "train.price."
#: TrainingInputs that are arguments of training_table (the price has its own keys).
TRAIN_KEYS = tuple(k for k in TrainingInputs.param
                   if k in inspect.signature(levers.training_table).parameters)

#: View options: declared like the engine's inputs so they parse the same way.
VIEW_PARAMS = {
    "embed": Flag(False, doc="compact layout for an iframe"),
    "theme": Choice("auto", objects=["auto", "light", "dark"], doc="colour theme; auto follows the system"),
    "yaxis": Choice("usd_per_day", objects=["usd_per_day", "usd_per_1m_tokens", "usd_per_task"],
                    doc="waterfall y axis"),
    "tab": Choice("serving", objects=["serving", "hardware", "formulas", "decide"], doc="open tab"),
}
VIEW_DEFAULTS = {k: p.default for k, p in VIEW_PARAMS.items()}

#: Longest key shown back in a notice (keys come from the URL).
_MAX_KEY = 60
#: Most query fields read; more is not a link this app wrote.
_MAX_FIELDS = 200


@dataclass(frozen=True)
class Notice:
    """A rejected query key and why (the engine's message)."""

    key: str
    message: str


@dataclass
class QueryState:
    """What a query string asks for, after validation."""

    preset: str = ""
    scenario: Scenario = field(default_factory=Scenario)
    training: dict = field(default_factory=dict)
    prices: dict = field(default_factory=dict)
    view: dict = field(default_factory=lambda: dict(VIEW_DEFAULTS))
    notices: list[Notice] = field(default_factory=list)
    #: Scenario B's overrides on top of ``scenario`` (``b.`` keys, prefix stripped).
    b: dict = field(default_factory=dict)


def training_defaults() -> dict:
    """TrainingInputs' declared defaults."""
    return {k: TrainingInputs.param[k].default for k in TRAIN_KEYS}


def base_scenario(preset: str) -> Scenario:
    """The starting point: the preset's scenario, or the engine's defaults."""
    return levers.load_preset(preset) if preset else Scenario()


def _short(key: str) -> str:
    return key if len(key) <= _MAX_KEY else key[:_MAX_KEY] + "…"


def check_scenario(s: Scenario) -> None:
    """Raise InputError when the engine cannot compute ``s``."""
    levers.waterfall(s)


def describe_failure(exc: Exception) -> Notice:
    """A notice naming why something could not be computed, for any exception.

    An :class:`~levers.errors.InputError` (bad input, or a data file that fails
    validation) keeps its field and message; anything else is a failure of
    the engine, logged with its traceback and named by its type and text.
    """
    if isinstance(exc, InputError):
        return Notice(exc.field, exc.message)
    log.error("could not compute", exc_info=exc)
    return Notice("engine", f"could not compute this ({type(exc).__name__}: {str(exc)[:200]})")


def _try(values: dict, base: Scenario) -> Scenario:
    s = Scenario.from_mapping(values, base=base)
    check_scenario(s)
    return s


def apply_values(base: Scenario, values: dict) -> tuple[Scenario, list[Notice]]:
    """Apply already-parsed ``values`` on ``base``, dropping those the engine rejects.

    All at once first; if the combination fails (e.g. ``weights=fp4`` on a
    card without FP4, a model that does not fit), one at a time, repeating
    until no more apply, so the order of keys in a URL does not matter.
    """
    if not values:
        return base, []
    try:
        return _try(values, base), []
    except Exception:  # any failure: find the keys that cause it, one at a time
        pass
    s, pending, progress = base, dict(values), True
    while pending and progress:
        progress = False
        for key, value in list(pending.items()):
            try:
                s = _try({key: value}, s)
            except Exception:
                continue
            del pending[key]
            progress = True
    notices = []
    for key, value in pending.items():
        try:
            _try({key: value}, s)
            msg = "conflicts with the other values"  # pragma: no cover - applies alone now
        except Exception as exc:
            why = describe_failure(exc)
            msg = why.message if why.key == key else f"{why.key}: {why.message}"
        notices.append(Notice(key, msg))
    return s, notices


def parse_query(search: str) -> QueryState:
    """Validate a query string (``"?a=1&b=2"`` or ``"a=1"``).

    Bad or unknown keys are left out and reported in ``notices``, as is any
    failure to compute (named by its cause); the result is always a scenario
    the engine can compute, unless even the starting point cannot be.
    """
    st = QueryState()
    text = (search or "").lstrip("?")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:
        st.notices.append(Notice("query", f"more than {_MAX_FIELDS} fields; all ignored"))
        pairs = []
    query: dict[str, str] = {}
    for key, value in pairs:
        query[key] = value  # the last of a repeated key wins

    base = Scenario()
    if "preset" in query:
        name = query.pop("preset").strip()
        try:
            base = levers.load_preset(presets.check(name))
            st.preset = name
        except Exception as exc:
            st.notices.append(Notice("preset", describe_failure(exc).message))

    values: dict = {}
    b_raw: dict = {}
    known = set(Scenario.keys())
    for key, raw in query.items():
        try:
            if key.startswith(compare.PREFIX):
                b_raw[key[len(compare.PREFIX):]] = raw
            elif key in VIEW_PARAMS:
                st.view[key] = parse_value(VIEW_PARAMS[key], key, raw)
            elif key.startswith(PRICE_PREFIX):
                hw = key[len(PRICE_PREFIX):]
                specs.get(hw)
                usd = parse_value(TrainingInputs.param["usd_per_gpu_hour"], key, raw)
                st.prices[hw] = usd
            elif key.startswith(TRAIN_PREFIX) and key[len(TRAIN_PREFIX):] in TRAIN_KEYS:
                name = key[len(TRAIN_PREFIX):]
                st.training[name] = parse_value(TrainingInputs.param[name], key, raw)
            elif key in known:
                values[key] = parse_value(Scenario.param[key], key, raw)
            else:
                st.notices.append(Notice(_short(key), "unknown key; ignored"))
        except Exception as exc:
            why = describe_failure(exc)
            msg = why.message if why.key in (key, "hardware") else f"{why.key}: {why.message}"
            st.notices.append(Notice(_short(key), msg))
    st.scenario, notices = apply_values(base, values)
    st.notices.extend(notices)
    st.b, b_notices = compare.b_overrides(st.scenario, b_raw)
    st.notices.extend(Notice(k, m) for k, m in b_notices)
    return st


def requested_theme(search: str) -> str:
    """The ``theme`` a query asks for ('auto' when absent or not allowed)."""
    try:
        pairs = parse_qsl((search or "").lstrip("?"), max_num_fields=_MAX_FIELDS)
    except ValueError:
        return "auto"
    raw = dict(pairs).get("theme", "auto")
    try:
        return parse_value(VIEW_PARAMS["theme"], "theme", raw)
    except InputError:
        return "auto"


def format_value(v) -> str:
    """A value as query text that parses back to exactly ``v``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ",".join(map(str, v))
    if isinstance(v, float):
        v = float(v)  # numpy floats repr as np.float64(...)
        if v.is_integer() and abs(v) < 1e16:
            return str(int(v))
        return repr(v)
    return str(v)


def build_query(preset: str, scenario: Scenario, training: dict | None = None,
                prices: dict | None = None, view: dict | None = None, b: dict | None = None) -> str:
    """The query string for a state: only what differs from the starting point.

    Returns ``""`` when nothing differs, else ``"?key=value&..."`` with
    ``preset`` first, then scenario keys in declaration order; ``b`` (scenario
    B's overrides) follows as ``b.<key>``.
    """
    pairs: list[tuple[str, str]] = []
    if preset:
        pairs.append(("preset", preset))
    for key, value in scenario.changed(base_scenario(preset)).items():
        pairs.append((key, format_value(value)))
    defaults = training_defaults()
    for key in TRAIN_KEYS:
        if training and key in training and training[key] != defaults[key]:
            pairs.append((TRAIN_PREFIX + key, format_value(training[key])))
    for key in Scenario.keys():  # noqa: SIM118 (a classmethod, not a dict)
        if b and key in b:
            pairs.append((compare.PREFIX + key, format_value(b[key])))
    for hw, usd in sorted((prices or {}).items()):
        pairs.append((PRICE_PREFIX + hw, format_value(usd)))
    for key, default in VIEW_DEFAULTS.items():
        if view and key in view and view[key] != default:
            value = view[key]
            pairs.append((key, ("1" if value else "0") if isinstance(value, bool) else str(value)))
    return "?" + urlencode(pairs, quote_via=quote, safe=",") if pairs else ""


def with_embed(query: str) -> str:
    """``query`` with ``embed=1`` set (for the iframe snippet)."""
    pairs = [(k, v) for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=True) if k != "embed"]
    pairs.append(("embed", "1"))
    return "?" + urlencode(pairs, quote_via=quote, safe=",")


def without_embed(query: str) -> str:
    """``query`` without ``embed`` (for the share link)."""
    pairs = [(k, v) for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=True) if k != "embed"]
    return "?" + urlencode(pairs, quote_via=quote, safe=",") if pairs else ""
