"""The four techniques as settings of their levers: off changes nothing, on
never breaks the cost, and the task presets price tasks."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import levers
from levers.errors import InputError

FIGURES = ("cost_per_day", "gpus", "ttft_ms", "ttft_p90_ms", "tpot_ms", "usd_per_1m_input",
           "usd_per_1m_cached_input", "usd_per_1m_output", "usd_per_1m_tokens", "energy_kwh_per_day")

#: Each technique's switch, its off value, and the inputs only it reads.
TECHNIQUES = {
    "speculative": ("off", {"spec_acceptance": st.floats(0, 1), "spec_draft_tokens": st.integers(1, 16)}),
    "disaggregated": (False, {"disagg_network_GBps": st.floats(0.1, 1000)}),
    "kv_offload": (False, {
        "distinct_prefixes": st.floats(1, 1e9), "kv_dram_GB": st.floats(0, 100_000),
        "kv_ssd_GB": st.floats(0, 1_000_000), "kv_dram_GBps": st.floats(0.1, 10_000),
        "kv_ssd_GBps": st.floats(0.01, 1000), "prefix_popularity_skew": st.floats(0, 3)}),
    "task_shape": ("request", {"thinking_multiple": st.floats(0, 1000), "agent_turns": st.integers(1, 10_000),
                               "observation_tokens": st.integers(0, 200_000)}),
}
LESSON_PRESETS = ("chatbot", "code-completion", "summarization")
_BASE = {}


def figures(w):
    return [[getattr(st_, k) for k in FIGURES] for st_ in w.steps]


def base(preset):
    if preset not in _BASE:
        _BASE[preset] = figures(levers.waterfall(levers.load_preset(preset)))
    return _BASE[preset]


@pytest.mark.parametrize("preset", LESSON_PRESETS)
@pytest.mark.parametrize("technique", sorted(TECHNIQUES))
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_off_gives_exactly_the_old_numbers(preset, technique, data):
    off, knobs = TECHNIQUES[technique]
    values = {k: data.draw(v, label=k) for k, v in knobs.items()}
    s = levers.load_preset(preset, **{technique: off}, **values)
    assert figures(levers.waterfall(s)) == base(preset)


@pytest.mark.parametrize("technique,on", [("speculative", "mtp"), ("speculative", "draft_model"),
                                          ("disaggregated", True), ("kv_offload", True),
                                          ("task_shape", "reasoning"), ("task_shape", "agentic")])
@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_a_technique_never_makes_the_cost_non_finite(technique, on, data):
    _, knobs = TECHNIQUES[technique]
    values = {k: data.draw(v, label=k) for k, v in knobs.items()}
    if technique == "task_shape":  # keep the longest turn inside the context window
        values["agent_turns"] = min(values["agent_turns"], 40)
        values["observation_tokens"] = min(values["observation_tokens"], 2000)
        values["thinking_multiple"] = min(values["thinking_multiple"], 50)
    try:
        s = levers.load_preset("chatbot", **{technique: on}, **values)
        w = levers.waterfall(s)
    except InputError as e:  # refused with the field named, never a wrong number
        assert e.field
        return
    for st_ in w.steps:
        for k in (*FIGURES, "usd_per_task", "tasks_per_day"):
            v = getattr(st_, k)
            assert math.isfinite(v) and v >= 0, (st_.lever, k, v)
        assert st_.cost_per_day > 0


@pytest.mark.parametrize("preset", ["reasoning", "agentic"])
def test_task_presets_price_tasks(preset):
    s = levers.load_preset(preset)
    w = levers.waterfall(s)
    for st_ in w.steps:
        assert st_.tasks_per_day == s.requests_per_day
        assert st_.usd_per_task == pytest.approx(st_.cost_per_day / s.requests_per_day)
    # A task costs more than its per-token price suggests for one chat-sized
    # reply: the tokens per task are what multiply it.
    final = w.steps[-1]
    assert final.usd_per_task > final.usd_per_1m_tokens * 1000 / 1e6


def test_mtp_speeds_up_the_reasoning_preset_about_as_deepseek_reports():
    # DeepSeek-V3: 1.8x TPS with MTP at 85-90% acceptance. The batching step,
    # where speculation switches on, falls in cost by about that much
    # (decode dominates: 4,000 thinking tokens per 1,500 prompt tokens).
    on = levers.waterfall(levers.load_preset("reasoning"))
    off = levers.waterfall(levers.load_preset("reasoning", speculative="off"))
    ratio = off.steps[2].cost_per_day / on.steps[2].cost_per_day
    assert 1.4 < ratio < 2.0


def test_an_unholdable_hit_rate_is_not_credited():
    held = levers.waterfall(levers.load_preset("agentic"))
    spilled = levers.waterfall(levers.load_preset("agentic", distinct_prefixes=20_000))
    assert spilled.steps[1].multiplier < held.steps[1].multiplier / 2


def test_disaggregation_needs_continuous_batching():
    with pytest.raises(InputError, match="disaggregated"):
        levers.load_preset("chatbot", disaggregated=True, batching="static")


def test_an_agents_last_turn_must_fit_the_context_window():
    # llama-3.1-70b: 131,072 tokens. 400 turns of 350 tokens outgrow it.
    with pytest.raises(InputError, match="agent_turns") as e:
        levers.load_preset("agentic", agent_turns=400)
    assert "131,072" in str(e.value)
    with pytest.raises(InputError, match="thinking_multiple"):
        levers.load_preset("reasoning", thinking_multiple=400)


@pytest.mark.parametrize("context", [8_000, 32_000, 64_000, 128_000])
def test_long_context_grows_attention_and_kv_in_the_roofline(context):
    # One 70B replica at batch 1: prefill time and TPOT rise with the context,
    # and past ~54k tokens attention FLOPs per token exceed the weights' 2 x params.
    from levers import models, perf, specs
    m, hw = models.get("llama-3.1-70b"), specs.get("h100")
    eng = perf.Engine("continuous", 0.4, 0.45, 0.9, 0, 2.0)

    def at(p):
        return perf.replica(m, hw, 8, "fp8", "fp8", perf.Workload(p, 0, 500), eng, concurrency=1)

    short, long_ = at(context // 2), at(context)
    assert long_.prefill_s > 2 * short.prefill_s * 0.99  # superlinear: attention is quadratic in prompt
    assert long_.tpot_s > short.tpot_s
    attn_over_weights = m.attention_flops_per_token(context) / (2 * m.params_active_B * 1e9)
    assert (attn_over_weights > 1) == (context > 54_000)


def test_the_formulas_show_each_technique_when_it_is_on():
    from levers import derivation
    s = levers.load_preset("reasoning", disaggregated=True)
    w = levers.waterfall(s)
    whats = [line.what for line in derivation.fleet_lines(w.steps[2], s, "big")]
    assert "speculative: tokens per verify step" in whats
    assert "disaggregated: prefill pool" in whats
    assert "cost per task" in [line.what for line in derivation.cost_lines(w.steps[-1])]
    s = levers.load_preset("agentic")
    w = levers.waterfall(s)
    whats = [line.what for line in derivation.fleet_lines(w.steps[1], s, "big")]
    assert "KV offload: copy into HBM, added to TTFT" in whats
    plain = levers.load_preset("chatbot")
    lines = derivation.fleet_lines(levers.waterfall(plain).steps[2], plain, "big")
    assert not [line for line in lines if line.what.startswith(("speculative", "KV offload", "disaggregated"))]


@pytest.mark.parametrize("acceptance", [0.85, 0.90])
def test_the_engine_reproduces_deepseek_v3_mtp(acceptance):
    # DeepSeek-V3 report, 5.4.3: one MTP module at 85-90% acceptance gives 1.8x
    # TPS. The replica model with the speculative setting, default (fitted)
    # efficiency, 8 x H200, batch 8: within 6%.
    from levers import models, perf, specs
    from levers import speculative as sp
    m, hw = models.get("deepseek-v3"), specs.get("h200")
    eng = perf.Engine("continuous", 0.0, 0.0, 0.9, 0, 2.0)
    work = perf.Workload(1000, 0, 500)
    plain = perf.Shape(m, hw, 8, "fp8", "fp8", work, eng)
    mtp = perf.Shape(m, hw, 8, "fp8", "fp8", work, eng, spec=sp.setting("mtp", acceptance, 1, m, None, 1.0))
    assert plain.tpot(8) / mtp.tpot(8) == pytest.approx(sp.DEEPSEEK_V3_SPEEDUP, rel=0.06)


LONG_PROMPTS = dict(system_prompt_tokens=60_000, cache_hit_rate=0.0, output_tokens=200, tpot_slo_low_ms=10,
                    tpot_slo_high_ms=25, ttft_slo_high_ms=10_000, off="routing,quantization,hardware")


def test_disaggregation_pays_for_long_prompts_under_a_tight_tpot_and_not_for_chat():
    # 60k-token prompts, 200-token replies, TPOT <= 25 ms: prompt chunks force
    # aggregated replicas to tiny batches; split pools keep decode batches large.
    split = levers.waterfall(levers.load_preset("chatbot", disaggregated=True, **LONG_PROMPTS))
    together = levers.waterfall(levers.load_preset("chatbot", **LONG_PROMPTS))
    assert split.steps[2].gpus < 0.7 * together.steps[2].gpus
    assert "splitting saves" in split.steps[2].explanation
    # The lesson's chatbot (3,500-token prompts, 150-token replies): it does not.
    chat = levers.waterfall(levers.load_preset("chatbot", disaggregated=True))
    assert chat.steps[2].gpus >= levers.waterfall(levers.load_preset("chatbot")).steps[2].gpus
    assert "splitting costs" in chat.steps[2].explanation
