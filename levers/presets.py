"""Named scenarios, each with a one-line description.

A preset is a set of overrides on :class:`levers.scenario.Scenario`'s
defaults, written with the same keys as the CLI and the share URL.
"""

from __future__ import annotations

from .errors import InputError

#: The lesson's chatbot workload (1M requests/day, 3,000-token system prompt,
#: 500-token user turn, 150-token reply, a 70B model with a 7B small model).
_CHATBOT = {
    "requests_per_day": 1_000_000,
    "system_prompt_tokens": 3000,
    "user_tokens": 500,
    "output_tokens": 150,
    "big_model": "llama-3.1-70b",
    "small_model": "qwen2.5-7b",
    "cache_hit_rate": 0.8,
    "batching": "continuous",
    "route_share": 0.7,
    "route_policy": "cascade",
    "weights": "fp8",
    "kv_cache": "fp8",
    "baseline_hardware": "h100",
    "hardware": "b200",
    "consolidate": True,
}

PRESETS: dict[str, tuple[str, dict]] = {
    "lesson": (
        "The lesson's worked example: a support chatbot at $8,400/day, levers set by hand as in its table",
        {
            **_CHATBOT,
            "mode": "illustrative",
            "baseline_cost_per_day": 8400,
            "mult_prefix_caching": 2.4,
            "mult_batching": 1.5,
            "mult_routing": 2.8,
            "mult_quantization": 1.6,
            "mult_hardware": 1.5,
        },
    ),
    "chatbot": (
        "The same support chatbot, every multiplier derived from the workload and the hardware",
        dict(_CHATBOT, mode="modeled"),
    ),
    "code-completion": (
        "IDE code completion: 20M short requests a day, long code context, 40-token suggestions",
        {
            "mode": "modeled",
            "requests_per_day": 20_000_000,
            "system_prompt_tokens": 500,
            "user_tokens": 1500,
            "output_tokens": 40,
            "peak_to_average": 3.0,
            "big_model": "llama-3.1-70b",
            "small_model": "llama-3.1-8b",
            "cache_hit_rate": 0.6,
            "route_share": 0.8,
            "route_policy": "split",
            "weights": "fp8",
            "kv_cache": "fp8",
            "ttft_slo_low_ms": 50,
            "ttft_slo_high_ms": 300,
            "tpot_slo_low_ms": 10,
            "tpot_slo_high_ms": 40,
        },
    ),
    "summarization": (
        "Document summarization: 200k long documents a day, 400-token summaries, little prompt reuse",
        {
            "mode": "modeled",
            "requests_per_day": 200_000,
            "system_prompt_tokens": 300,
            "user_tokens": 6000,
            "output_tokens": 400,
            "peak_to_average": 1.5,
            "big_model": "llama-3.1-70b",
            "small_model": "llama-3.1-8b",
            "cache_hit_rate": 0.05,
            "route_share": 0.6,
            "route_policy": "split",
            "weights": "int4",
            "kv_cache": "fp8",
            "hardware": "mi355x",
            "ttft_slo_high_ms": 3000,
        },
    ),
    "rag-agent": (
        "A retrieval agent on a 405B model: 300k requests a day with 8k tokens of retrieved context",
        {
            "mode": "modeled",
            "requests_per_day": 300_000,
            "system_prompt_tokens": 2000,
            "user_tokens": 8000,
            "output_tokens": 300,
            "big_model": "llama-3.1-405b",
            "small_model": "llama-3.1-70b",
            "cache_hit_rate": 0.5,
            "route_share": 0.5,
            "route_policy": "cascade",
            "weights": "fp8",
            "kv_cache": "fp8",
            "hardware": "mi355x",
            "ttft_slo_high_ms": 2000,
        },
    ),
    "moe-chat": (
        "A chat service on DeepSeek-V3 (mixture of experts, latent attention) on B200 with FP4 weights",
        {
            "mode": "modeled",
            "requests_per_day": 5_000_000,
            "system_prompt_tokens": 1500,
            "user_tokens": 800,
            "output_tokens": 400,
            "big_model": "deepseek-v3",
            "small_model": "qwen2.5-7b",
            "cache_hit_rate": 0.7,
            "route_share": 0.5,
            "route_policy": "split",
            "weights": "fp4",
            "kv_cache": "fp8",
            "hardware": "b200",
        },
    ),
    "reasoning": (
        "A reasoning service on DeepSeek-V3's architecture: 500-token answers after 8x as many thinking "
        "tokens, MTP speculative decoding; priced per task",
        {
            "mode": "modeled",
            "task_shape": "reasoning",
            # A scenario setting, not a measurement: how long models think varies
            # several-fold by model and task (README, "Workloads priced per task").
            "thinking_multiple": 8,
            "requests_per_day": 500_000,
            "system_prompt_tokens": 1000,
            "user_tokens": 500,
            "output_tokens": 500,
            "big_model": "deepseek-v3",
            "small_model": "qwen2.5-7b",
            "cache_hit_rate": 0.6,
            "route_share": 0.3,
            "route_policy": "split",
            # DeepSeek-V3 report, 5.4.3: one MTP module, 85-90% second-token acceptance.
            "speculative": "mtp",
            "spec_acceptance": 0.85,
            "spec_draft_tokens": 1,
            "weights": "fp4",
            "kv_cache": "fp8",
            "hardware": "b200",
            "ttft_slo_high_ms": 2000,
        },
    ),
    "agentic": (
        "A tool-using agent: 50 calls per task (as Manus reports), each appending a 250-token tool "
        "result to a growing context served from a prefix cache that spills to host memory and SSD",
        {
            "mode": "modeled",
            "task_shape": "agentic",
            "agent_turns": 50,
            "observation_tokens": 250,
            "requests_per_day": 100_000,
            "system_prompt_tokens": 3000,
            "user_tokens": 200,
            "output_tokens": 100,
            "big_model": "llama-3.1-70b",
            "small_model": "llama-3.1-8b",
            "cache_hit_rate": 0.9,
            "kv_offload": True,
            "distinct_prefixes": 1000,
            "route_share": 0.5,
            "route_policy": "split",
            "weights": "fp8",
            "kv_cache": "fp8",
            "hardware": "b200",
            "ttft_slo_high_ms": 2000,
        },
    ),
}


def names() -> list[str]:
    """Preset names, in display order."""
    return list(PRESETS)


def describe(name: str) -> str:
    """The preset's one-line description."""
    return PRESETS[check(name)][0]


def check(name: str) -> str:
    """Return ``name`` if it is a preset, else raise an :class:`InputError`."""
    if not isinstance(name, str) or name not in PRESETS:
        raise InputError("preset", f"unknown preset {str(name)[:40]!r}; allowed: {', '.join(PRESETS)}")
    return name


def overrides(name: str) -> dict:
    """The preset's ``{key: value}`` overrides."""
    return dict(PRESETS[check(name)][1])
