"""The engine gives the same numbers in real Pyodide (wasm, Python 3.13) as in CPython.

Runs under Node with the npm package pyodide at the version Panel's converter
targets. It must run in CI: without `npm ci` it fails (see pyodide_env).
"""

from __future__ import annotations

import json
import math

import pytest
from pyodide_env import (
    ALLOW_SKIP_ENV,
    ENGINE_PACKAGES,
    missing_reason,
    pyodide_available,
    run_in_pyodide,
    skip_allowed,
)

import levers

pytestmark = pytest.mark.pyodide

SCRIPT = """
import json, sys, levers
out = {}
for name in ("lesson", "chatbot"):
    out[name] = levers.waterfall(levers.load_preset(name)).to_dict()
out["training"] = [r.__dict__ for r in levers.training_table()]
out["version"] = sys.version
print(json.dumps(out))
"""


def _numbers(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}[{i}]")
    else:
        yield path, obj


@pytest.fixture(scope="module")
def wasm():
    if not pyodide_available():
        if skip_allowed():
            pytest.skip(f"{missing_reason()} ({ALLOW_SKIP_ENV}=1)")
        pytest.fail(missing_reason(), pytrace=False)
    return json.loads(run_in_pyodide(SCRIPT, ENGINE_PACKAGES, timeout=300))


def test_runs_in_python_313(wasm):
    assert wasm["version"].startswith("3.13")


@pytest.mark.parametrize("name", ["lesson", "chatbot"])
def test_waterfall_matches_cpython(wasm, name):
    native = json.loads(json.dumps(levers.waterfall(levers.load_preset(name)).to_dict()))
    got = dict(_numbers(wasm[name]))
    want = dict(_numbers(native))
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, float):
            assert math.isclose(got[key], value, rel_tol=1e-9, abs_tol=1e-12), key
        else:
            assert got[key] == value, key


def test_training_table_matches_cpython(wasm):
    native = [r.__dict__ for r in levers.training_table()]
    for got, want in zip(wasm["training"], native, strict=True):
        for key, value in want.items():
            if isinstance(value, float):
                assert math.isclose(got[key], value, rel_tol=1e-9), key
            else:
                assert got[key] == value, key
