"""Bad input of every kind: refused with a message naming the field, never a wrong number.

Number text, odd Python values, scenario combinations no model can serve, CLI
flags, share-URL keys, failures while computing, and a property test over every
key's declared bounds: whatever the inputs, no output is ever non-finite.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from fractions import Fraction

import param
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import levers
from levers import InputError, Scenario, cli, models, specs
from levers.params import parse_value
from levers.scenario import MIN_SHARE, MIN_USD_PER_GPU_HOUR

# Bokeh's ColumnDataSource.from_df (used by Panel's Tabulator) calls a pandas
# API that pandas 3.1 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")

PRICE = Scenario.param.usd_per_gpu_hour
RATE = Scenario.param.requests_per_day
COUNT = Scenario.param.output_tokens


# ---- numbers as text -------------------------------------------------------------
@pytest.mark.parametrize("text", ["2,50", "1,5", "0,9", "-1,5", "12,3456", "1,00", "3,14159"])
def test_decimal_comma_is_refused_with_a_hint(text):
    with pytest.raises(InputError) as exc:
        parse_value(PRICE, "usd_per_gpu_hour", text)
    assert exc.value.field == "usd_per_gpu_hour"
    assert "decimal point" in exc.value.message and "from 0 to 1,000" in exc.value.message


@pytest.mark.parametrize("text", [
    ",,1,,", "_1_", "1__000", "1,0000", "10,00,000", "1,000,00", ",1", "1,", "1_0", "1,000_000",
    "1 000", "1.000.000", "1e", "e3", ".", "+", "--1", "1..2", "0x10", "1e3.5", "inf", "nan",
    "Infinity", "1e400", "", " ", "½", "1\u00a0000",
])
def test_malformed_number_text_is_refused(text):
    with pytest.raises(InputError) as exc:
        parse_value(RATE, "requests_per_day", text)
    assert exc.value.field == "requests_per_day" and "allowed" in exc.value.message


@pytest.mark.parametrize("text", [
    "١٠٠٠",  # Arabic-Indic
    "１２３",  # full-width
    "۱۲۳",  # Extended Arabic-Indic
    "१२३",  # Devanagari
    "১২৩",  # Bengali
    "๑๒๓",  # Thai
    "𝟏𝟐𝟑",  # mathematical bold
    "1٠0",  # mixed
])
def test_non_ascii_digits_are_refused(text):
    assert float(text.replace("٠", "0")) > 0  # Python itself would read each of them
    with pytest.raises(InputError) as exc:
        parse_value(RATE, "requests_per_day", text)
    assert "digits 0-9" in exc.value.message


@pytest.mark.parametrize(("text", "value"), [
    ("1,000,000", 1e6), ("1_000_000", 1e6), ("12,345.5", 12345.5), ("1000", 1000), (" 2.5 ", 2.5),
    ("5.", 5), (".5e1", 5), ("+3", 3), ("1e3", 1000), ("2.5E+2", 250), ("999", 999),
])
def test_plain_numbers_and_thousands_groups_are_read(text, value):
    assert parse_value(RATE, "requests_per_day", text) == value


@pytest.mark.parametrize("value", ["-0", "-0.0", "-0e5", -0.0, "+0"])
def test_minus_zero_is_zero(value):
    x = parse_value(PRICE, "usd_per_gpu_hour", value)
    assert x == 0 and math.copysign(1, x) == 1
    assert f"{x:.0%}" == "0%"


@pytest.mark.parametrize("value", [None, [1], {}, (2,), object(), 1j, b"12", True, "true", {1}])
def test_odd_python_values_for_a_number_are_refused(value):
    with pytest.raises(InputError):
        parse_value(COUNT, "output_tokens", value)


def test_fractions_and_ints_are_numbers():
    assert parse_value(PRICE, "usd_per_gpu_hour", Fraction(5, 2)) == 2.5
    assert parse_value(COUNT, "output_tokens", 150) == 150


@pytest.mark.parametrize(("key", "value"), [
    ("off", 5), ("off", 1.5), ("off", {"x": 1}), ("off", object()), ("big_model", 5),
    ("hardware", ["h100"]), ("weights", 8), ("consolidate", 2), ("consolidate", "maybe"),
    ("output_tokens", "150.5"), ("cache_hit_rate", "1,5"),
])
def test_load_preset_refuses_odd_values_by_name(key, value):
    with pytest.raises(InputError) as exc:
        levers.load_preset("chatbot", **{key: value})
    assert exc.value.field == key


@pytest.mark.parametrize("name", [["chatbot"], {"chatbot": 1}, 5, None, ""])
def test_load_preset_refuses_an_odd_name(name):
    with pytest.raises(InputError) as exc:
        levers.load_preset(name)
    assert exc.value.field == "preset" and "allowed: lesson" in exc.value.message


def test_decimal_comma_in_the_cli_is_one_line_naming_the_key(capsys):
    assert cli.main(["waterfall", "--set", "usd_per_gpu_hour=2,50"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: usd_per_gpu_hour: got '2,50'")
    assert "decimal point (2.50)" in err[0]
    with pytest.raises(SystemExit) as stop:  # argparse's own exit for a bad flag value
        cli.main(["training", "--mfu", "0,4"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--mfu: got '0,4'" in err[0] and "decimal point (0.4)" in err[0]


def test_decimal_comma_in_the_url_is_reported_not_applied():
    from app.urlstate import parse_query

    st_ = parse_query("?peak_to_average=1,5&cache_hit_rate=0.5")
    assert st_.scenario.peak_to_average == Scenario.param.peak_to_average.default
    assert st_.scenario.cache_hit_rate == 0.5
    assert [n.key for n in st_.notices] == ["peak_to_average"]
    assert "decimal point" in st_.notices[0].message


# ---- scenarios no model can serve ------------------------------------------------
def test_small_model_larger_than_the_big_one_is_refused():
    with pytest.raises(InputError) as exc:
        levers.load_preset("chatbot", small_model="llama-3.1-405b")
    assert exc.value.field == "small_model" and "larger than the big model" in exc.value.message
    with pytest.raises(InputError, match="larger"):
        levers.load_preset("chatbot", small_model="custom", small_params_B=100)
    # With routing off or sending nothing, the small model is unused: no conflict.
    levers.load_preset("chatbot", small_model="llama-3.1-405b", route_share=0)
    levers.load_preset("chatbot", small_model="llama-3.1-405b", off="routing")


def test_prompt_longer_than_the_context_window_is_refused():
    with pytest.raises(InputError) as exc:
        levers.load_preset("chatbot", system_prompt_tokens=200_000, user_tokens=200_000)
    msg = exc.value.message
    assert exc.value.field == "context"
    assert "400,150 tokens" in msg and "llama-3.1-70b" in msg and "131,072" in msg
    # Llama 2's config: max_position_embeddings 4096; prompt 3,500 + reply 150 fits, 4,000 + 150 does not.
    levers.load_preset("chatbot", big_model="llama-2-70b", small_model="llama-3.1-8b")
    with pytest.raises(InputError, match="llama-2-70b, 4,096 tokens"):
        levers.load_preset("chatbot", big_model="llama-2-70b", small_model="llama-3.1-8b", user_tokens=1000)


def test_context_window_of_the_small_model_counts_when_routing():
    # Mixtral's config: max_position_embeddings 32768.
    values = dict(big_model="llama-3.1-405b", small_model="mixtral-8x7b", user_tokens=40_000)
    with pytest.raises(InputError, match="small_model mixtral-8x7b"):
        levers.load_preset("chatbot", **values)
    levers.load_preset("chatbot", **values, route_share=0)


@pytest.mark.parametrize("key", ["usd_per_gpu_hour", "baseline_usd_per_gpu_hour"])
@pytest.mark.parametrize("price", [5e-324, 2.2e-309, 1e-9, 0.009])
def test_a_price_near_zero_is_refused(key, price):
    # A price of ~0 made the bill ~0: a ZeroDivisionError or an infinite $/1M tokens.
    with pytest.raises(InputError) as exc:
        levers.load_preset("chatbot", **{key: price})
    assert exc.value.field == key and "from 0.01 to 1,000 [$/GPU-hour]" in exc.value.message
    assert levers.load_preset("chatbot", **{key: 0}).values()[key] == 0  # 0: the spec's price
    assert levers.waterfall(levers.load_preset("chatbot", **{key: 0.01})).final_cost_per_day > 0


# ---- CLI ------------------------------------------------------------------------
def test_duplicate_hardware_gives_one_row_each(capsys):
    assert cli.main(["training", "--hardware", "h100", "--hardware", "a100", "--hardware", "h100",
                     "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["hardware"] for r in rows] == ["h100", "a100"]


def test_params_b_for_a_catalogue_model_is_refused(capsys):
    assert cli.main(["throughput", "--model", "llama-3.1-8b", "--params-B", "500"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: params-B: applies only to --model custom")
    assert cli.main(["throughput", "--model", "custom", "--params-B", "8", "--format", "json"]) == 0
    with pytest.raises(InputError, match="params-B"):
        levers.throughput("llama-3.1-70b", "h100", 2, params_B=7)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_non_finite_result_is_never_printed(monkeypatch, capsys, bad):
    import levers.throughput_cli as tc

    real = tc.run
    monkeypatch.setattr(tc, "run", lambda values: {**real(values), "tpot_ms": bad})
    for fmt in ("json", "table", "csv"):
        assert cli.main(["throughput", "--model", "llama-3.1-8b", "--format", fmt]) == 1
        out, err = capsys.readouterr()
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "result.tpot_ms" in lines[0] and "not a finite number" in lines[0]
        assert "Infinity" not in err and "NaN" not in err


# ---- failures while computing: a page with a notice, never a blank one -----------
def _moe_that_always_fires() -> models.Model:
    """Mixtral with every expert firing: the validator refuses it, the engine divides by zero."""
    return replace(models.get("mixtral-8x7b"), id="all-experts", experts_per_token=8)


@pytest.fixture
def unchecked_model(monkeypatch):
    catalog = {**models.load_all(), "all-experts": _moe_that_always_fires()}
    monkeypatch.setattr(models, "load_all", lambda: catalog)
    with pytest.raises(ZeroDivisionError):  # what the engine does with it
        levers.waterfall(levers.load_preset("chatbot", small_model="all-experts"))


def test_engine_failure_on_the_url_path_is_a_notice(unchecked_model):
    from app import render
    from app.main import Calculator
    from app.urlstate import parse_query

    st_ = parse_query("?small_model=all-experts&cache_hit_rate=0.5")
    assert st_.scenario.small_model == Scenario.param.small_model.default
    assert st_.scenario.cache_hit_rate == 0.5
    assert [n.key for n in st_.notices] == ["small_model"]
    assert "ZeroDivisionError" in st_.notices[0].message
    c = Calculator("?preset=chatbot&small_model=all-experts")
    assert c.notice.visible and "ZeroDivisionError" in c.notice.object
    assert c.source.data["cost_per_day"][0] == levers.waterfall(levers.load_preset("chatbot")).steps[0].cost_per_day
    assert render.esc("small_model") in c.notice.object


def _corrupt(tmp_path, package: str, name: str, edit) -> str:
    from importlib import resources

    folder = tmp_path / package.replace(".", "_")
    folder.mkdir()
    for entry in resources.files(package).iterdir():
        if entry.name.endswith(".toml"):
            data = entry.read_bytes()
            (folder / entry.name).write_bytes(edit(data) if entry.name == name else data)
    return str(folder)


@pytest.mark.parametrize("case", ["corrupt h100.toml", "implausible h100.toml", "non-UTF-8 model file",
                                  "MoE whose experts all fire"])
def test_page_names_a_bad_data_file_instead_of_going_blank(tmp_path, monkeypatch, case):
    import panel as pn

    from app.main import create_app

    if case == "corrupt h100.toml":
        folder = _corrupt(tmp_path, "hardware_specs", "h100.toml", lambda b: b.replace(b"[memory]", b"[memory"))
        monkeypatch.setattr(specs, "load_all", lambda: specs.load_dir(folder))
        expect = ["h100.toml", "invalid TOML"]
    elif case == "implausible h100.toml":
        folder = _corrupt(tmp_path, "hardware_specs", "h100.toml",
                          lambda b: b.replace(b"hbm_bandwidth_TBps = 3.35", b"hbm_bandwidth_TBps = 1e-300"))
        monkeypatch.setattr(specs, "load_all", lambda: specs.load_dir(folder))
        expect = ["h100.toml", "memory.hbm_bandwidth_TBps", "from 0.05 to 200 [TB/s]"]
    elif case == "non-UTF-8 model file":
        folder = _corrupt(tmp_path, "levers.model_specs", "qwen2.5-7b.toml",
                          lambda b: b.replace(b"Qwen2.5 7B", "Qwen2.5 7B \xe9".encode("latin-1")))
        monkeypatch.setattr(models, "load_all", lambda: models.load_dir(folder))
        expect = ["qwen2.5-7b.toml", "not valid UTF-8"]
    else:
        folder = _corrupt(tmp_path, "levers.model_specs", "mixtral-8x7b.toml",
                          lambda b: b.replace(b"experts_per_token = 2", b"experts_per_token = 8"))
        monkeypatch.setattr(models, "load_all", lambda: models.load_dir(folder))
        expect = ["mixtral-8x7b.toml", "experts_per_token", "less than experts"]
    monkeypatch.setattr(pn.config, "raw_css", list(pn.config.raw_css))
    monkeypatch.setattr(pn.config, "design", pn.config.design)
    page = create_app()
    html = page[0].object
    assert "could not start" in html
    for text in expect:
        assert text in html, (text, html)


def test_address_bar_and_share_link_drop_rejected_keys_at_once():
    from app.main import Calculator
    from app.urlstate import parse_query

    class FakeLocation(param.Parameterized):
        search = param.String("?cache_hit_rate=2&route_share=0.5&bogus=1&mfu=0,4&theme=dark")
        href = param.String("http://example.test/app")

    loc = FakeLocation()
    c = Calculator(location=loc)
    assert loc.search == c.query == "?route_share=0.5&theme=dark"
    assert [n.key for n in c.url_notices] == ["cache_hit_rate", "bogus", "mfu"]
    c._show_share(snippet=False)
    assert "http://example.test/app?route_share=0.5&amp;theme=dark" in c.share_box.object
    assert parse_query(loc.search).notices == []  # the share link is always valid
    loc.search = "?preset=lesson&hardware=nope"  # navigation later on
    assert loc.search == c.query == "?preset=lesson"


# ---- no non-finite output over every key's declared bounds ------------------------
def _strategy(key: str):
    p = Scenario.param[key]
    if isinstance(p, param.ListSelector):
        return st.lists(st.sampled_from(list(p.objects)), unique=True)
    if getattr(p, "catalog", None):
        return st.sampled_from(p.catalog())
    if isinstance(p, param.Selector):
        return st.sampled_from(list(p.objects))
    if isinstance(p, param.Boolean):
        return st.booleans()
    lo, hi = p.bounds
    if key.endswith("usd_per_gpu_hour"):  # 0 (the spec's price) or a real price; ~0 is refused above
        return st.one_of(st.just(0.0), st.floats(MIN_USD_PER_GPU_HOUR, hi))
    if key in ("mfu", "mbu"):  # 0 (the fitted share) or a share of at least MIN_SHARE
        return st.one_of(st.just(0.0), st.floats(MIN_SHARE, hi))
    if isinstance(p, param.Integer):
        return st.integers(lo, hi)
    return st.floats(lo, hi, allow_nan=False)


def _numbers(data, path="result"):
    if isinstance(data, bool):
        return
    if isinstance(data, float | int):
        yield path, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(data, list | tuple):
        for i, v in enumerate(data):
            yield from _numbers(v, f"{path}[{i}]")


def _with_ordered_bands(values: dict) -> dict:
    """SLO bands drawn over their whole range, low edge first (else most draws are refused)."""
    for band in ("ttft", "tpot"):
        lo, hi = f"{band}_slo_low_ms", f"{band}_slo_high_ms"
        values[lo], values[hi] = sorted((values[lo], values[hi]))
    return values


EVERY_KEY = st.fixed_dictionaries({k: _strategy(k) for k in Scenario.keys()}).map(_with_ordered_bands)  # noqa: SIM118


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVERY_KEY)
def test_no_output_is_non_finite_over_every_keys_bounds(values):
    try:
        s = Scenario.from_mapping(values)
        w = levers.waterfall(s)
    except InputError as exc:  # refused, with a message naming a field: never a wrong number
        assert exc.field and exc.message
        return
    data = w.to_dict()
    bad = [(path, x) for path, x in _numbers(data) if not math.isfinite(x)]
    assert not bad, bad
    assert all(step["cost_per_day"] > 0 and step["gpus"] >= 1 for step in data["steps"])
    json.dumps(data, allow_nan=False)


def test_training_failure_is_a_notice(monkeypatch):
    import app.main as main

    c = main.Calculator("")
    before = list(c.rows)

    def broken(**kwargs):
        raise ArithmeticError("overflow in the table")

    monkeypatch.setattr(main.levers, "training_table", broken)
    c.train_w["gpus"].value = 64
    assert c.rows == before
    assert c.notice.visible and "ArithmeticError: overflow in the table" in c.notice.object


def test_widget_path_refuses_a_prompt_over_the_context_window():
    from app.main import Calculator

    c = Calculator("")
    c.widgets["user_tokens"].value = 200_000
    assert c.scenario.user_tokens == Scenario.param.user_tokens.default  # reverted
    assert c.notice.visible and "context window" in c.notice.object and "131,072" in c.notice.object
    assert c.query == ""
