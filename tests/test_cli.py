"""The CLI: output shapes, and one clear line with exit status 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import levers
from levers.cli import main


def run(*args):
    proc = subprocess.run([sys.executable, "-m", "levers", *args], capture_output=True, text=True,
                          timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def test_waterfall_json_shape_matches_the_api():
    code, out, err = run("waterfall", "--preset", "chatbot", "--set", "cache_hit_rate=0.5",
                         "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    for key in ("steps", "baseline_cost_per_day", "final_cost_per_day", "total_multiplier"):
        assert key in data
    api = levers.waterfall(levers.load_preset("chatbot", cache_hit_rate=0.5))
    assert [s["lever"] for s in data["steps"]] == [s.lever for s in api.steps]
    for got, want in zip(data["steps"], api.steps, strict=True):
        for key in ("multiplier", "cost_per_day", "gpus", "ttft_ms", "tpot_ms", "explanation"):
            assert got[key] == getattr(want, key)
    assert data["final_cost_per_day"] == api.final_cost_per_day


def test_waterfall_table_shows_the_lesson_numbers(capsys):
    assert main(["waterfall", "--preset", "lesson"]) == 0
    out = capsys.readouterr().out
    for text in ("$8,400", "$3,500", "$2,333", "$833", "$521", "$347", "÷2.4", "24.2×"):
        assert text in out


def test_waterfall_csv_has_a_row_per_step(capsys):
    assert main(["waterfall", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("lever,title,on,multiplier,cost_per_day")
    assert len(lines) == 7


def test_training_json_rows(capsys):
    assert main(["training", "--params", "70e9", "--tokens", "2e12", "--mfu", "0.36",
                 "--gpus", "1024", "--price", "h100=3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["hardware"]: r for r in data["rows"]}
    for key in ("hardware", "days", "cost_usd", "energy_mwh", "usd_per_gpu_hour"):
        assert key in rows["h100"]
    assert rows["h100"]["usd_per_gpu_hour"] == 3
    assert rows["h100"]["cost_usd"] == pytest.approx(rows["h100"]["gpu_hours"] * 3)


def test_throughput_json_fields(capsys):
    assert main(["throughput", "--model", "llama-3.1-70b", "--hardware", "h100", "--gpus", "2",
                 "--weights", "fp8", "--kv-cache", "fp8", "--input", "1000", "--output", "1000",
                 "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("output_tokens_per_s", "output_tokens_per_s_per_gpu", "ttft_ms", "tpot_ms", "batch"):
        assert key in data
    assert data["output_tokens_per_s_per_gpu"] == pytest.approx(data["output_tokens_per_s"] / 2)


def test_throughput_concurrency_caps_the_batch(capsys):
    assert main(["throughput", "--model", "llama-3.1-8b", "--hardware", "h100", "--concurrency",
                 "8", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["batch"] == 8 and data["batch_limit"] == "concurrency"


def test_throughput_max_batch_and_slo_flags(capsys):
    def run(*flags):
        assert main(["throughput", "--model", "llama-3.1-70b", "--hardware", "h100", "--gpus", "2",
                     "--weights", "fp8", "--kv-cache", "fp8", *flags, "--format", "json"]) == 0
        return json.loads(capsys.readouterr().out)

    capped = run("--max-batch", "64")
    assert capped["batch"] == 64 and capped["batch_limit"] == "max_batch"
    assert capped["slo_met"] is None
    held = run("--slo", "on", "--tpot-slo-ms", "30")
    assert held["slo_met"] is True and held["tpot_ms"] <= 30
    assert held["batch_limit"] in ("tpot", "ttft") and held["batch"] < run()["batch"]
    assert run("--slo", "on", "--tpot-slo-ms", "1")["slo_met"] is False


def test_waterfall_table_shows_p90_and_the_slo(capsys):
    assert main(["waterfall", "--preset", "chatbot"]) == 0
    out = capsys.readouterr().out
    assert "p90 ms" in out and "missed" in out and "escalated requests" in out


def test_hardware_lists_every_spec(capsys):
    assert main(["hardware", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ids = {h["id"] for h in data["hardware"]}
    assert {"a100", "h100", "h200", "b200", "gb200", "l40s", "mi300x", "mi325x", "mi355x",
            "tpu-v5e", "tpu-v5p", "tpu-v6e"} <= ids
    assert all(h["sources"]["compute"]["source"] for h in data["hardware"])


BAD = [
    (["waterfall", "--preset", "nope"], "preset"),
    (["waterfall", "--set", "nope=1"], "nope"),
    (["waterfall", "--set", "cache_hit_rate=1.5"], "cache_hit_rate"),
    (["waterfall", "--set", "cache_hit_rate=abc"], "cache_hit_rate"),
    (["waterfall", "--set", "cache_hit_rate=nan"], "cache_hit_rate"),
    (["waterfall", "--set", "requests_per_day=inf"], "requests_per_day"),
    (["waterfall", "--set", "output_tokens=2.5"], "output_tokens"),
    (["waterfall", "--set", "hardware=x100"], "hardware"),
    (["waterfall", "--set", "weights=fp4", "--set", "hardware=h100"], "weights"),
    (["waterfall", "--set", "novalue"], "--set"),
    (["training", "--mfu", "0"], "--mfu"),
    (["training", "--gpus", "-3"], "--gpus"),
    (["training", "--tokens", "nan"], "--tokens"),
    (["training", "--price", "x100=2"], "hardware"),
    (["training", "--price", "h100=-1"], "price h100"),
    (["throughput", "--model", "gpt-9"], "model"),
    (["throughput", "--model", "llama-3.1-405b", "--hardware", "h100", "--gpus", "1"], "gpus"),
    (["throughput", "--gpus", "0"], "gpus"),
    (["throughput", "--input", "-5"], "input"),
]


@pytest.mark.parametrize(("args", "field"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(args, field):
    code, out, err = run(*args)
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert field in lines[0]
    assert out == ""


def test_malformed_spec_file_is_a_clear_error(tmp_path, monkeypatch):
    from levers import specs

    (tmp_path / "h100.toml").write_text('id = "h100"\nname = 3\n')
    with pytest.raises(levers.SpecError) as exc:
        specs.load_dir(tmp_path)
    assert "h100.toml" in str(exc.value)
