"""Workloads priced per task: reasoning and multi-turn agents.

A per-token price hides how many tokens a task takes. Two shapes dominate
new traffic:

* **Reasoning**: the model thinks before it answers. The thinking tokens are
  output tokens the user never sees, ``m`` times the visible reply, so one
  request decodes ``visible x (1 + m)`` tokens.
* **Agentic**: one task is ``T`` model calls (turns). Each turn appends the
  tool's observation and the model's reply to the context, so the prompt
  grows every turn; everything but the newest observation was in the
  previous turn's context and is served from the prefix cache.

:func:`per_request` turns either shape into the per-request workload the
engine models (mean prompt, mean cached prompt, mean output, and requests per
day); :func:`per_task` turns the engine's daily cost into $/task and tasks
per day.

Figures these are checked against (``tests/test_tasks.py``)
-----------------------------------------------------------
* Manus, "Context Engineering for AI Agents: Lessons from Building Manus"
  (Yichao Ji, July 2025): "the average input-to-output token ratio is around
  100:1" in its agent, and "a typical task in Manus requires around 50 tool
  calls on average". https://manus.im/blog/Context-Engineering-for-AI-Agents-Lessons-from-Building-Manus
  (read 2026-11-24).
* Anthropic, "How we built our multi-agent research system" (June 13, 2025):
  "agents typically use about 4x more tokens than chat interactions, and
  multi-agent systems use about 15x more tokens than chats".
  https://www.anthropic.com/engineering/built-multi-agent-research-system
  (read 2026-11-24).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError

#: Manus: average input-to-output token ratio of its agent.
MANUS_INPUT_TO_OUTPUT = 100.0
#: Manus: tool calls (model turns) in a typical task.
MANUS_TURNS_PER_TASK = 50
#: Anthropic: tokens per task over a chat's, single agent and multi-agent.
ANTHROPIC_AGENT_OVER_CHAT, ANTHROPIC_MULTI_AGENT_OVER_CHAT = 4.0, 15.0

SHAPES = ("request", "reasoning", "agentic")


@dataclass(frozen=True)
class RequestShape:
    """The mean request the engine models, and how many make a task.

    Attributes
    ----------
    prompt_tokens, cached_tokens, output_tokens
        Mean over a task's requests [tokens].
    turns
        Requests per task.
    visible_output_tokens
        Output the user sees per request (reasoning: without the thinking) [tokens].
    longest_request_tokens
        The last turn's prompt plus its reply: what must fit in the model's
        context window [tokens].
    """

    prompt_tokens: float
    cached_tokens: float
    output_tokens: float
    turns: int
    visible_output_tokens: float
    longest_request_tokens: float = 0.0

    @property
    def input_tokens_per_task(self) -> float:
        """Prompt tokens over all turns of one task [tokens]."""
        return self.prompt_tokens * self.turns

    @property
    def output_tokens_per_task(self) -> float:
        """Decoded tokens over all turns of one task, thinking included [tokens]."""
        return self.output_tokens * self.turns

    @property
    def tokens_per_task(self) -> float:
        """All tokens of one task [tokens]."""
        return self.input_tokens_per_task + self.output_tokens_per_task

    @property
    def input_to_output(self) -> float:
        """Prompt tokens per decoded token."""
        return self.prompt_tokens / self.output_tokens


def _check(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise InputError(name, f"got {value!r}; allowed: a number from {low:g} to {high:g}")


def per_request(
    shape: str,
    *,
    system_prompt_tokens: float,
    user_tokens: float,
    output_tokens: float,
    cache_hit_rate: float,
    thinking_multiple: float = 0.0,
    turns: int = 1,
    observation_tokens: float = 0.0,
    reuse_history: bool = True,
) -> RequestShape:
    """The per-request workload of one task shape.

    Parameters
    ----------
    shape
        ``"request"`` (one call, as the lesson's chatbot), ``"reasoning"``
        or ``"agentic"``.
    system_prompt_tokens, user_tokens, output_tokens
        The first call's shared prefix, its own part and its visible reply
        [tokens].
    cache_hit_rate
        Share of the first call's prompt served from the prefix cache; later
        agent turns reuse their whole history on top of it [share].
    thinking_multiple
        Reasoning: thinking tokens per visible output token [x].
    turns, observation_tokens
        Agentic: calls per task and tokens each tool observation appends.
    reuse_history
        Agentic: whether later turns find their history in the prefix cache
        (False when the engine runs without one: every turn recomputes).

    Derivation
    ----------
    Reasoning: output ``o (1 + m)``; prompt unchanged; one request per task.

    Agentic, turn ``t = 1..T``: the prompt is the first call's
    ``S + U`` plus ``t - 1`` earlier rounds of reply and observation,
    ``P_t = S + U + (t - 1)(o + u)``. Turn ``t >= 2`` finds all of
    ``P_{t-1} + o`` (its previous prompt and reply) in the cache, everything
    but the newest observation: ``C_t = P_t - u``; turn 1 finds
    ``h x (S + U)``. Prompt and cache are linear in ``t``, so the mean over
    the task is their value at the mean turn: ``mean P = S + U + (T - 1)(o +
    u) / 2`` and ``mean C = (h (S + U) + (T - 1) (mean over t >= 2 of C_t)) / T``.
    Prefill and decode costs are linear in these, so pricing the mean request
    ``T`` times prices the task.
    """
    first = system_prompt_tokens + user_tokens
    if shape == "request" and 0 <= cache_hit_rate <= 1:  # the lesson's shape: nothing else to check
        return RequestShape(first, cache_hit_rate * first, output_tokens, 1, output_tokens,
                            first + output_tokens)
    if shape not in SHAPES:
        raise InputError("task_shape", f"got {str(shape)[:40]!r}; allowed: {', '.join(SHAPES)}")
    _check("cache_hit_rate", cache_hit_rate, 0, 1)
    _check("thinking_multiple", thinking_multiple, 0, 1000)
    _check("turns", turns, 1, 10_000)
    _check("observation_tokens", observation_tokens, 0, 1e7)
    if shape == "reasoning":
        out = output_tokens * (1 + thinking_multiple)
        return RequestShape(first, cache_hit_rate * first, out, 1, output_tokens, first + out)
    if shape == "request" or turns == 1:
        return RequestShape(first, cache_hit_rate * first, output_tokens, 1, output_tokens,
                            first + output_tokens)
    t = int(turns)
    step = output_tokens + observation_tokens
    mean_prompt = first + (t - 1) * step / 2
    # Turns 2..T: C_t = first + (t - 1) step - u, mean at t = (T + 2) / 2.
    later_cached = first + (t / 2) * step - observation_tokens if reuse_history else cache_hit_rate * first
    mean_cached = (cache_hit_rate * first + (t - 1) * later_cached) / t
    last = first + (t - 1) * step + output_tokens
    return RequestShape(mean_prompt, min(mean_cached, mean_prompt), output_tokens, t, output_tokens, last)


@dataclass(frozen=True)
class TaskPrice:
    """What one task costs and how many the fleet serves.

    Attributes
    ----------
    tasks_per_day
        ``requests_per_day / turns`` [tasks/day].
    usd_per_task
        ``cost_per_day / tasks_per_day`` [$/task].
    usd_per_1m_tokens
        The same bill per million tokens of all kinds [$/1M].
    tokens_per_task
        [tokens].
    """

    tasks_per_day: float
    usd_per_task: float
    usd_per_1m_tokens: float
    tokens_per_task: float


def per_task(cost_per_day: float, requests_per_day: float, shape: RequestShape) -> TaskPrice:
    """Price a task from the fleet's daily bill.

    ``tasks/day = requests/day / turns``; ``$/task = $/day / tasks/day``,
    which is ``$/1M tokens x tokens per task / 1e6``: the per-token price
    understates a task's cost by its token count.
    """
    _check("cost_per_day", cost_per_day, 0, math.inf)
    _check("requests_per_day", requests_per_day, 1e-12, math.inf)
    tasks = requests_per_day / shape.turns
    per_task_usd = cost_per_day / tasks
    return TaskPrice(
        tasks_per_day=tasks,
        usd_per_task=per_task_usd,
        usd_per_1m_tokens=per_task_usd / shape.tokens_per_task * 1e6,
        tokens_per_task=shape.tokens_per_task,
    )
