"""Hosted API prices and the API-versus-self-hosting comparison (levers.api)."""

from __future__ import annotations

import itertools

import pytest

import levers
from levers import api, models, specs
from levers.errors import SpecError

GOOD = """
id = "acme"
name = "Acme"

[[prices]]
model = "llama-3.1-70b"
api_model = "acme/llama-70b"
usd_per_1m_input = 0.60
usd_per_1m_cached_input = 0.15
usd_per_1m_output = 1.20
source = "https://example.com/pricing"
as_of = "2026-11"
"""


# --- data ------------------------------------------------------------------
def test_shipped_rows_have_provenance_and_known_models():
    rows = api.load_all()
    assert len(rows) >= 5
    known = set(models.load_all())
    for p in rows:
        assert p.model in known
        assert p.source.startswith("https://"), p
        assert len(p.as_of) >= 7, p
        assert p.usd_per_1m_input > 0 and p.usd_per_1m_output > 0
        if p.usd_per_1m_cached_input is not None:
            assert p.usd_per_1m_cached_input <= p.usd_per_1m_input


def test_deepseek_row_matches_its_published_page():
    # https://api-docs.deepseek.com/quick_start/pricing-details-usd: deepseek-chat
    # cache hit $0.07, cache miss $0.27, output $1.10 per 1M tokens (exact figures).
    (row,) = [p for p in api.load_all() if p.provider == "deepseek"]
    assert (row.usd_per_1m_cached_input, row.usd_per_1m_input, row.usd_per_1m_output) == (0.07, 0.27, 1.10)


def test_parse_good_file_and_blend():
    (p,) = api.parse(GOOD, "levers/api_prices/acme.toml")
    assert p.provider == "acme" and p.usd_per_1m_cached_input == 0.15
    assert p.blended == pytest.approx((3 * 0.60 + 1.20) / 4)


@pytest.mark.parametrize(("old", "new", "field"), [
    ("usd_per_1m_input = 0.60", "usd_per_1m_input = -1", "prices[0].usd_per_1m_input"),
    ("usd_per_1m_cached_input = 0.15", "usd_per_1m_cached_input = 0.9", "prices[0].usd_per_1m_cached_input"),
    ('model = "llama-3.1-70b"', 'model = "gpt-9"', "prices[0].model"),
    ('as_of = "2026-11"', 'as_of = "last week"', "prices[0].as_of"),
    ('source = "https://example.com/pricing"', 'source = "a blog"', "prices[0].source"),
    ('id = "acme"', 'id = "other"', "id"),
    ('api_model = "acme/llama-70b"', 'api_model = "x"\ncolour = "red"', "prices[0].colour"),
])
def test_bad_rows_name_the_file_and_field(old, new, field):
    with pytest.raises(SpecError) as info:
        api.parse(GOOD.replace(old, new), "levers/api_prices/acme.toml")
    assert f"levers/api_prices/acme.toml: {field}" in str(info.value)


def test_missing_price_table_is_reported():
    with pytest.raises(SpecError, match="prices"):
        api.parse('id = "acme"\nname = "Acme"\n', "levers/api_prices/acme.toml")


# --- bills -----------------------------------------------------------------
def test_api_bill_prices_cached_tokens_and_routes_like_the_fleet():
    (big,) = api.parse(GOOD, "levers/api_prices/acme.toml")
    small = api.Price("acme", "Acme", "llama-3.1-8b", "s", 0.1, 0.2, None, "https://x", "2026-11")
    s = levers.load_preset("chatbot", route_policy="split")
    prompt, out = 3500, 150
    hit = 0.8 * prompt
    one_big = ((prompt - hit) * 0.60 + hit * 0.15 + out * 1.20) / 1e6
    one_small = (prompt * 0.1 + out * 0.2) / 1e6  # no cached rate: cached tokens at the input price
    assert api.api_usd_per_request(s, big, small) == pytest.approx(0.7 * one_small + 0.3 * one_big)
    cascade = levers.load_preset("chatbot", route_policy="cascade")
    assert api.api_usd_per_request(cascade, big, small) == pytest.approx(one_small + 0.3 * one_big)
    no_cache = levers.load_preset("chatbot", off="prefix_caching,routing")
    assert api.api_usd_per_request(no_cache, big, small) == pytest.approx((prompt * 0.60 + out * 1.20) / 1e6)


@pytest.mark.parametrize("preset", ["chatbot", "code-completion", "moe-chat", "summarization"])
def test_break_even_is_where_the_bills_cross(preset):
    s = levers.load_preset(preset)
    c = api.comparison(s, curve=False)
    if not c["rows"]:
        pytest.skip(f"no API price on file for {s.big_model}")
    hw = specs.get(c["self_hosted"]["hardware"])
    gpu_day = hw.usd_per_hour * 24
    step = gpu_day * 8  # the widest replica the engine builds is 8 GPUs
    for row in c["rows"]:
        be = row["break_even_requests_per_day"]
        per_req = row["usd_per_request"]
        if be is None:
            continue
        at = api.fleet_usd_per_day(s, be)
        just_below = be * (1 - 1e-3)
        # Self-hosting is no dearer at the break-even volume and dearer just below it...
        assert at <= per_req * be
        assert api.fleet_usd_per_day(s, just_below) > per_req * just_below
        # ...and the two bills there are within one step of the fleet's staircase.
        assert per_req * be - at <= step
        assert abs(at / gpu_day - round(at / gpu_day)) < 1e-9  # whole GPUs


def test_no_break_even_when_the_api_is_cheaper_everywhere():
    s = levers.load_preset("chatbot")

    def fleet(x):
        return 1e9  # a fleet dearer than any API at every volume

    assert api.break_even(fleet, 1e-3, api.curve_volumes()) is None
    # and none when self-hosting is cheaper from the first volume on
    assert api.break_even(lambda x: 0.0, 1e-3, api.curve_volumes()) is None
    c = api.comparison(s, curve=False)
    assert all("break_even_requests_per_day" in r for r in c["rows"])


def test_curve_is_a_staircase_of_whole_gpus_over_the_stated_range():
    s = levers.load_preset("chatbot")
    c = api.comparison(s)
    v = c["curve"]["volumes"]
    assert v[0] == pytest.approx(1e4) and v[-1] == pytest.approx(1e8)
    assert all(b > a for a, b in itertools.pairwise(v))
    gpu_day = specs.get("b200").usd_per_hour * 24
    fleet = c["curve"]["self_hosted"]
    assert fleet[0] >= gpu_day  # at least one replica
    for a, b in itertools.pairwise(fleet):
        assert b >= a - 1e-9
    assert all(abs(x / gpu_day - round(x / gpu_day)) < 1e-9 for x in fleet)
    for row in c["rows"]:
        line = c["curve"]["api"][row["provider"]]
        assert line[-1] / line[0] == pytest.approx(v[-1] / v[0])


def test_model_without_prices_says_so():
    s = levers.load_preset("rag-agent")  # llama-3.1-405b: no row on file
    c = api.comparison(s, curve=False)
    assert c["rows"] == [] and "no hosted API price" in c["message"]


def test_illustrative_mode_compares_with_the_modeled_fleet():
    c = api.comparison(levers.load_preset("lesson"), curve=False)
    assert "illustrative" in c["note"]
    assert c["self_hosted"]["usd_per_day"] == levers.waterfall(levers.load_preset("chatbot")).final_cost_per_day


# --- CLI -------------------------------------------------------------------
def test_waterfall_json_carries_api_comparison_and_attribution(capsys):
    import json

    from levers.attribution import attribution
    from levers.cli import main

    assert main(["waterfall", "--preset", "chatbot", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    s = levers.load_preset("chatbot")
    want = api.comparison(s, curve=False)
    rows = data["api_comparison"]["rows"]
    assert [r["provider"] for r in rows] == [r["provider"] for r in want["rows"]]
    for got, exp in zip(rows, want["rows"], strict=True):
        for key in ("usd_per_1m_input", "usd_per_1m_output", "source", "as_of", "usd_per_day",
                    "break_even_requests_per_day"):
            assert got[key] == exp[key]
    a = attribution(s)
    assert data["attribution"] == a["attribution"] and data["interaction"] == a["interaction"]


def test_cli_api_table_lists_each_provider_with_its_source(capsys):
    from levers.cli import main

    assert main(["api", "--preset", "chatbot"]) == 0
    out = capsys.readouterr().out
    for p in api.prices_for("llama-3.1-70b"):
        assert p.provider_name in out and p.source in out
    assert "3:1" in out and "break-even" in out


def test_load_dir_reads_the_shipped_files_and_names_a_bad_one(tmp_path):
    import shutil
    from importlib import resources

    src = resources.files("levers.api_prices")
    for entry in src.iterdir():
        if entry.name.endswith(".toml"):
            shutil.copy(str(entry), tmp_path / entry.name)
    assert api.load_dir(tmp_path) == api.load_all()
    bad = tmp_path / "deepseek.toml"
    bad.write_text(bad.read_text().replace("usd_per_1m_output = 1.10", "usd_per_1m_output = inf"))
    with pytest.raises(SpecError) as info:
        api.load_dir(tmp_path)
    assert f"{bad}: prices[0].usd_per_1m_output" in str(info.value)
