"""Two scenarios side by side: ``b.``-prefixed keys define B on top of A.

``?preset=chatbot&b.hardware=mi355x&b.weights=fp4`` (or ``--set
b.hardware=mi355x`` on the CLI) means: scenario A is the chatbot preset;
scenario B is A with ``hardware=mi355x`` and ``weights=fp4``. Keys without
the prefix apply to both. Every value goes through the same declarations as
any other input, and a bad one is reported under its ``b.`` name.
"""

from __future__ import annotations

from .errors import InputError
from .scenario import Scenario, parse_mapping
from .waterfall import Waterfall, waterfall

#: The prefix that marks a key as scenario B's.
PREFIX = "b."

#: Headline figures compared, with their units: (key, label, unit).
HEADLINES: tuple[tuple[str, str, str], ...] = (
    ("final_cost_per_day", "final bill", "$/day"),
    ("baseline_cost_per_day", "baseline bill", "$/day"),
    ("total_multiplier", "total saving", "x"),
    ("gpus", "GPUs after all levers", "GPUs"),
    ("usd_per_1m_output", "output tokens", "$/1M"),
    ("usd_per_1m_tokens", "all tokens", "$/1M"),
    ("ttft_ms", "time to first token", "ms"),
    ("tpot_ms", "time per output token", "ms"),
    ("energy_kwh_per_day", "energy at TDP", "kWh/day"),
)


def split(values: dict) -> tuple[dict, dict]:
    """Split ``{key: value}`` into A's keys and B's (``b.`` stripped)."""
    a, b = {}, {}
    for key, value in values.items():
        if isinstance(key, str) and key.startswith(PREFIX):
            b[key[len(PREFIX):]] = value
        else:
            a[key] = value
    return a, b


def parse_b(values: dict) -> dict:
    """Validate B's overrides (keys without the prefix).

    Raises
    ------
    InputError
        Naming the key with its ``b.`` prefix and the allowed range.
    """
    try:
        return parse_mapping(values)
    except InputError as e:
        raise InputError(PREFIX + e.field, e.message) from None


def scenario_b(a: Scenario, b_values: dict) -> Scenario:
    """Scenario B: ``a`` with ``b_values`` applied on top.

    Raises
    ------
    InputError
        For a bad key or value, or a combination the engine cannot compute
        (e.g. ``b.weights=fp4`` on hardware without FP4), named with ``b.``.
    """
    parsed = parse_b(b_values)
    try:
        b = Scenario.from_mapping(parsed, base=a)
        waterfall(b)
    except InputError as e:
        field = e.field if e.field.startswith(PREFIX) else PREFIX + e.field
        raise InputError(field, e.message) from None
    return b


def headline(w: Waterfall) -> dict:
    """The figures of :data:`HEADLINES` for one waterfall."""
    final = w.steps[-1]
    out = {"final_cost_per_day": w.final_cost_per_day, "baseline_cost_per_day": w.baseline_cost_per_day,
           "total_multiplier": w.total_multiplier}
    for key, _, _ in HEADLINES:
        if key not in out:
            out[key] = getattr(final, key)
    return out


def compare(a: Scenario, b: Scenario) -> dict:
    """Both scenarios' headline figures and how B differs from A.

    Returns
    -------
    dict
        ``a`` and ``b`` (headline figures), ``b_changes`` (B's inputs that
        differ from A's), ``difference`` ``{key: b - a}``, ``ratio``
        ``{key: b / a}`` (None where A's figure is 0), ``labels``
        ``{key: (label, unit)}`` and ``waterfalls`` (both, as
        :meth:`Waterfall.to_dict`).
    """
    wa, wb = waterfall(a), waterfall(b)
    ha, hb = headline(wa), headline(wb)
    return {
        "a": ha,
        "b": hb,
        "b_changes": b.changed(a),
        "difference": {k: hb[k] - ha[k] for k in ha},
        "ratio": {k: (hb[k] / ha[k] if ha[k] else None) for k in ha},
        "labels": {k: (label, unit) for k, label, unit in HEADLINES},
        "waterfalls": {"a": wa.to_dict(), "b": wb.to_dict()},
    }


def b_overrides(a: Scenario, raw: dict) -> tuple[dict, list[tuple[str, str]]]:
    """B's overrides from text, keeping those the engine accepts on top of ``a``.

    Each key is checked alone first (its declaration, then the engine on top
    of ``a``); the survivors are then checked together and, if the
    combination fails, dropped one at a time from the last. Keys in ``raw``
    have no prefix.

    Returns
    -------
    tuple
        ``({key: typed value}, [(b.key, message), ...])`` for the keys left out.
    """
    good, notices = {}, []
    for key, value in raw.items():
        try:
            parsed = parse_b({key: value})
            scenario_b(a, parsed)
        except InputError as e:
            notices.append((PREFIX + str(key)[:60], e.message if e.field == PREFIX + key
                            else f"{e.field}: {e.message}"))
            continue
        good.update(parsed)
    while good:
        try:
            scenario_b(a, good)
            break
        except InputError as e:
            key = next(reversed(good))
            notices.append((PREFIX + key, f"conflicts with the other b. keys ({e})"))
            del good[key]
    return good, notices
