"""Downloads in the engine's own shapes: the waterfall, the training table, the scenario.

``Waterfall.to_dict()`` is the JSON of the waterfall; its CSV has one row per
step with every scalar field of :class:`levers.Step` (the per-class latency
and the fleet details, which are nested, stay in the JSON). The training
table is :class:`levers.training.TrainingRow` as JSON records and CSV rows.
The scenario JSON holds the preset and the inputs that differ from it, and
:func:`load_scenario` reads it back through the engine's own parsing.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, fields

import levers
from levers import presets
from levers.errors import InputError
from levers.scenario import Scenario

#: Format version of the scenario file.
SCENARIO_FORMAT = "cost-levers-scenario/1"


def _csv(rows: list[dict], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def waterfall_json(w: levers.Waterfall) -> str:
    """``w.to_dict()`` as indented JSON."""
    return json.dumps(w.to_dict(), indent=2, default=str)


def waterfall_csv(w: levers.Waterfall) -> str:
    """One row per step: every scalar field of the engine's Step, in its order."""
    steps = w.to_dict()["steps"]
    columns = [f.name for f in fields(levers.Step)
               if all(isinstance(st.get(f.name), str | int | float | bool) for st in steps)]
    return _csv(steps, columns)


def training_json(rows) -> str:
    """The training rows as a JSON list of TrainingRow records."""
    return json.dumps([asdict(r) for r in rows], indent=2)


def training_csv(rows) -> str:
    """The training rows as CSV, one column per TrainingRow field."""
    records = [asdict(r) for r in rows]
    return _csv(records, list(records[0]) if records else [])


def scenario_json(preset: str, scenario: Scenario) -> str:
    """The preset and the inputs that differ from it: a file :func:`load_scenario` reads back."""
    base = levers.load_preset(preset) if preset else Scenario()
    return json.dumps({"format": SCENARIO_FORMAT, "preset": preset,
                       "inputs": scenario.changed(base)}, indent=2)


def load_scenario(text: str | bytes) -> tuple[str, Scenario]:
    """Read a scenario file: ``(preset, scenario)``.

    Accepts :func:`scenario_json`'s output or a flat ``{key: value}`` mapping
    of inputs. Every value goes through :meth:`Scenario.from_mapping`, so a bad
    one raises :class:`InputError` naming the key and the allowed range.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError("file", "not UTF-8 text; expected a scenario JSON file") from e
    try:
        data = json.loads(text)
    except ValueError as e:
        raise InputError("file", f"not JSON ({e.msg} at line {e.lineno}); expected a scenario JSON file") from e
    if not isinstance(data, dict):
        raise InputError("file", "expected a JSON object with 'preset' and 'inputs'")
    if "inputs" in data:
        preset = data.get("preset") or ""
        inputs = data["inputs"]
        if not isinstance(preset, str) or not isinstance(inputs, dict):
            raise InputError("file", "'preset' must be a name and 'inputs' an object")
    else:
        preset, inputs = "", data
    base = levers.load_preset(presets.check(preset)) if preset else Scenario()
    scenario = Scenario.from_mapping(inputs, base=base)
    levers.waterfall(scenario)  # raises InputError for a combination the engine refuses
    return preset, scenario
