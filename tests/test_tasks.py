"""Per-task pricing: reasoning and agentic shapes, against published ratios."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from levers import tasks
from levers.errors import InputError


def test_reasoning_multiplies_the_decoded_tokens():
    r = tasks.per_request("reasoning", system_prompt_tokens=500, user_tokens=300, output_tokens=400,
                          cache_hit_rate=0.5, thinking_multiple=8)
    assert r.output_tokens == 400 * 9 and r.visible_output_tokens == 400
    assert r.prompt_tokens == 800 and r.cached_tokens == 400 and r.turns == 1


def test_agentic_turns_grow_the_prefix_and_reuse_it():
    # Brute force over the turns, against the closed form.
    s, u, o, obs, h, t = 4000, 500, 150, 1200, 0.8, 20
    prompts, cached = [], []
    for turn in range(1, t + 1):
        p = s + u + (turn - 1) * (o + obs)
        prompts.append(p)
        cached.append(h * (s + u) if turn == 1 else p - obs)
    r = tasks.per_request("agentic", system_prompt_tokens=s, user_tokens=u, output_tokens=o,
                          cache_hit_rate=h, turns=t, observation_tokens=obs)
    assert r.prompt_tokens == pytest.approx(sum(prompts) / t)
    assert r.cached_tokens == pytest.approx(sum(cached) / t)
    assert r.turns == t and r.output_tokens == o
    assert r.longest_request_tokens == prompts[-1] + o
    # Without a prefix cache every turn recomputes its whole history.
    cold = tasks.per_request("agentic", system_prompt_tokens=s, user_tokens=u, output_tokens=o,
                             cache_hit_rate=0.0, turns=t, observation_tokens=obs, reuse_history=False)
    assert cold.cached_tokens == 0 and cold.prompt_tokens == r.prompt_tokens


def test_manus_input_to_output_ratio():
    # Manus: ~50 tool calls per task and an input:output ratio of ~100:1. An
    # agent of 50 turns with a 3,000-token tool-laden system prompt, 100-token
    # actions and 250-token observations lands there. Tolerance 25%: Manus gives
    # only the round ratio, and these per-turn sizes are ours.
    r = tasks.per_request("agentic", system_prompt_tokens=3000, user_tokens=200, output_tokens=100,
                          cache_hit_rate=1.0, turns=tasks.MANUS_TURNS_PER_TASK, observation_tokens=250)
    assert r.input_to_output == pytest.approx(tasks.MANUS_INPUT_TO_OUTPUT, rel=0.25)
    # Nearly all of it is served from the cache: the whole history is reused.
    assert r.cached_tokens / r.prompt_tokens > 0.95


def test_per_task_price_is_the_per_token_price_times_the_tokens():
    r = tasks.per_request("agentic", system_prompt_tokens=3000, user_tokens=200, output_tokens=100,
                          cache_hit_rate=1.0, turns=50, observation_tokens=250)
    p = tasks.per_task(cost_per_day=10_000, requests_per_day=5_000_000, shape=r)
    assert p.tasks_per_day == 100_000
    assert p.usd_per_task == pytest.approx(0.1)
    assert p.usd_per_task == pytest.approx(p.usd_per_1m_tokens * r.tokens_per_task / 1e6)


def test_agents_use_several_times_a_chats_tokens():
    # Anthropic: agents ~4x the tokens of chat, multi-agent systems ~15x. On
    # the lesson's chat turn (3,500-token prompt, 150-token reply) with
    # 500-token observations, 3 and 8 turns reach those multiples: the
    # multiples are a handful of turns, not hundreds. Tolerance 25%, for the
    # round published figures.
    chat = tasks.per_request("request", system_prompt_tokens=3000, user_tokens=500, output_tokens=150,
                             cache_hit_rate=0.8)
    agent = tasks.per_request("agentic", system_prompt_tokens=3000, user_tokens=500, output_tokens=150,
                              cache_hit_rate=0.8, turns=3, observation_tokens=500)
    multi = tasks.per_request("agentic", system_prompt_tokens=3000, user_tokens=500, output_tokens=150,
                              cache_hit_rate=0.8, turns=8, observation_tokens=500)
    lo, hi = tasks.ANTHROPIC_AGENT_OVER_CHAT, tasks.ANTHROPIC_MULTI_AGENT_OVER_CHAT
    assert agent.tokens_per_task / chat.tokens_per_task == pytest.approx(lo, rel=0.25)
    assert multi.tokens_per_task / chat.tokens_per_task == pytest.approx(hi, rel=0.25)


@pytest.mark.parametrize("field,kw", [
    ("task_shape", {"shape": "batch"}),
    ("thinking_multiple", {"thinking_multiple": -1}),
    ("turns", {"turns": 0}),
])
def test_bad_input_names_the_field(field, kw):
    base = dict(shape="agentic", system_prompt_tokens=100, user_tokens=10, output_tokens=10,
                cache_hit_rate=0.5, turns=3, observation_tokens=10)
    with pytest.raises(InputError, match=field):
        tasks.per_request(**{**base, **kw})


@given(s=st.integers(0, 200_000), u=st.integers(0, 200_000), o=st.integers(1, 100_000), h=st.floats(0, 1),
       m=st.floats(0, 100), t=st.integers(1, 500), obs=st.integers(0, 100_000),
       shape=st.sampled_from(tasks.SHAPES))
def test_shapes_are_finite_and_consistent(s, u, o, h, m, t, obs, shape):
    r = tasks.per_request(shape, system_prompt_tokens=s, user_tokens=u, output_tokens=o, cache_hit_rate=h,
                          thinking_multiple=m, turns=t, observation_tokens=obs)
    assert 0 <= r.cached_tokens <= r.prompt_tokens
    assert math.isfinite(r.tokens_per_task) and r.output_tokens >= o
