"""Speculative decoding and multi-token prediction: decode speedup versus batch.

A cheap drafter proposes ``k`` tokens; the target model checks all of them in
one forward pass and keeps the longest correct run plus one token of its own.
A decode step then yields several tokens instead of one. The drafter is either

* **MTP / EAGLE heads** (``"mtp"``): extra prediction modules the size of one
  transformer layer, riding on the target's own hidden states (DeepSeek-V3's
  multi-token prediction module is one transformer block; an EAGLE draft head
  is one decoder layer), or
* **a draft model** (``"draft_model"``): a separate small model with its own
  weights and KV cache.

Why the speedup falls as the batch grows
----------------------------------------
A plain decode step is bandwidth-bound at small batch: it streams the weights
once whatever the batch, so checking ``k + 1`` tokens per sequence costs
almost the same as checking one. As the batch grows, the step's FLOPs grow
with it while its bytes do not; past the ridge point the step is
compute-bound, and a verify pass of ``k + 1`` tokens per sequence costs
``k + 1`` times the FLOPs of a plain step. The tokens gained per step no
longer pay for the extra work. This module computes that from the roofline's
two times for a step (bandwidth ``t_mem`` and compute ``t_cmp``), not from a
fitted curve.

Measurements this is checked against (``tests/test_speculative.py``)
--------------------------------------------------------------------
* DeepSeek-V3 Technical Report, arXiv:2412.19437 (December 2024), section
  5.4.3: "the acceptance rate of the second token prediction ranges between
  85% and 90% across various generation topics ... delivering 1.8 times TPS".
  https://arxiv.org/abs/2412.19437 (read 2026-11-24).
* EAGLE-3, Li et al., arXiv:2503.01840 v3 (2025), abstract: "In the SGLang
  framework, EAGLE-3 achieves a 1.38x throughput improvement at a batch size
  of 64." https://arxiv.org/html/2503.01840v3 (read 2026-11-24). The SGLang
  documentation quotes the batch-1 measurement from the same paper,
  LLaMA-Instruct 3.1 8B on one H100, MT-bench: 158.34 tokens/s without
  speculation, 373.25 tokens/s with EAGLE-3 (2.36x), and gives the EAGLE
  defaults ``speculative_num_steps = 5`` (draft passes) and
  ``speculative_num_draft_tokens = 8`` (tokens verified per step).
  https://github.com/sgl-project/sgl-project.github.io (docs, "Speculative
  Decoding", read 2026-11-24).
* The expected accepted length of a chain of ``k`` drafts with independent
  per-token acceptance ``a``: Leviathan, Kalman & Matias, "Fast Inference from
  Transformers via Speculative Decoding", ICML 2023, arXiv:2211.17192,
  equation (1). https://arxiv.org/abs/2211.17192
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError

#: Drafter kinds. ``off`` leaves decoding as it is.
METHODS = ("off", "mtp", "draft_model")

#: DeepSeek-V3 (arXiv:2412.19437, section 5.4.3): second-token acceptance 85-90%.
DEEPSEEK_V3_ACCEPTANCE = (0.85, 0.90)
#: DeepSeek-V3: "1.8 times TPS" with one MTP module (one drafted token).
DEEPSEEK_V3_SPEEDUP = 1.8
#: EAGLE-3 in SGLang, LLaMA-Instruct 3.1 8B, 1 x H100, MT-bench [tokens/s].
EAGLE3_SGLANG_BATCH1 = (158.34, 373.25)
#: EAGLE-3 in SGLang, throughput improvement at batch 64.
EAGLE3_SGLANG_BATCH64_SPEEDUP = 1.38
#: SGLang EAGLE defaults: draft passes and tokens verified per step.
SGLANG_EAGLE_STEPS, SGLANG_EAGLE_DRAFT_TOKENS = 5, 8


def accepted_tokens(acceptance: float, draft_tokens: int) -> float:
    """Tokens one verify step yields on average [tokens/step].

    Derivation
    ----------
    With ``k`` drafted tokens each accepted with probability ``a`` given that
    the ones before it were, the run of accepted drafts has length ``j`` with
    probability ``a^j (1 - a)`` for ``j < k`` and ``a^k`` for ``j = k``; the
    target adds one token of its own either way (the correction, or the next
    token after a full run). So the step yields
    ``1 + a + a^2 + ... + a^k = (1 - a^(k+1)) / (1 - a)`` tokens
    (Leviathan et al. 2023, eq. 1). ``a = 1`` gives ``k + 1``.

    Raises
    ------
    InputError
        For an acceptance outside [0, 1] or a negative draft length.
    """
    if not 0.0 <= acceptance <= 1.0 or not math.isfinite(acceptance):
        raise InputError("spec_acceptance", f"got {acceptance!r}; allowed: a number from 0 to 1 [share]")
    if draft_tokens < 0:
        raise InputError("spec_draft_tokens", f"got {draft_tokens!r}; allowed: a whole number of at least 0")
    if acceptance >= 1.0:
        return float(draft_tokens + 1)
    return (1.0 - acceptance ** (draft_tokens + 1)) / (1.0 - acceptance)


@dataclass(frozen=True)
class SpecStep:
    """One speculative decode step against a plain one.

    Attributes
    ----------
    tokens_per_step
        Tokens each sequence gains per verify step [tokens].
    plain_step_s
        A plain decode step: ``max(t_mem, t_cmp) + t_comm`` [s].
    verify_s
        The target's verify pass over ``verify_tokens`` per sequence [s].
    draft_s
        All draft passes of one step [s].
    speedup
        Decode throughput with speculation over without, at the same batch.
    bound
        ``"bandwidth"`` or ``"compute"``: what limits the verify pass.
    """

    tokens_per_step: float
    plain_step_s: float
    verify_s: float
    draft_s: float
    speedup: float
    bound: str

    @property
    def time_per_token_s(self) -> float:
        """Decode time per token of each sequence with speculation [s]."""
        return (self.verify_s + self.draft_s) / self.tokens_per_step


def step(
    t_mem: float,
    t_cmp: float,
    t_comm: float,
    *,
    tokens_per_step: float,
    verify_tokens: float,
    draft_passes: int,
    draft_mem: float,
    draft_cmp: float,
) -> SpecStep:
    """Speculative step time and speedup from the roofline of a plain step.

    Parameters
    ----------
    t_mem, t_cmp, t_comm
        A plain decode step at batch ``B``: bandwidth time (weights plus every
        sequence's KV), compute time (``B`` tokens) and tensor-parallel
        communication [s].
    tokens_per_step
        Tokens each sequence gains per verify step (:func:`accepted_tokens`,
        or a measured acceptance length) [tokens].
    verify_tokens
        Tokens per sequence the target checks in one pass: ``k + 1`` for a
        chain of ``k`` drafts, the tree size for tree drafting [tokens].
    draft_passes
        Sequential draft forward passes per step (``k`` for a chain).
    draft_mem, draft_cmp
        One draft pass at batch ``B``: bandwidth and compute time [s].

    Derivation
    ----------
    The verify pass reads the same bytes as a plain step (weights once, each
    sequence's KV once) but does ``verify_tokens`` times its FLOPs:
    ``t_verify = max(t_mem, verify_tokens x t_cmp) + t_comm``. (The all-reduce
    also grows with the tokens; at decode sizes it is latency-dominated, so it
    is kept as is.) Each draft pass is its own small roofline,
    ``max(draft_mem, draft_cmp)``. Throughput with speculation over without:

    ``speedup = tokens_per_step x t_plain / (t_verify + passes x t_draft)``.

    At small batch ``t_mem`` dominates both passes and the speedup tends to
    ``tokens_per_step / (1 + passes x draft share)``; at large batch the
    verify pass is ``verify_tokens x t_cmp`` and the speedup falls towards
    ``tokens_per_step / verify_tokens``, below 1 once fewer tokens are
    accepted than checked.
    """
    for name, v in (("t_mem", t_mem), ("t_cmp", t_cmp), ("t_comm", t_comm), ("draft_mem", draft_mem),
                    ("draft_cmp", draft_cmp)):
        if not (math.isfinite(v) and v >= 0):
            raise InputError(name, f"got {v!r}; allowed: a finite time of at least 0 [s]")
    if not (tokens_per_step >= 1 and math.isfinite(tokens_per_step)):
        raise InputError("tokens_per_step", f"got {tokens_per_step!r}; allowed: a number of at least 1 [tokens]")
    if not verify_tokens >= 1:
        raise InputError("verify_tokens", f"got {verify_tokens!r}; allowed: a number of at least 1 [tokens]")
    plain = max(t_mem, t_cmp) + t_comm
    verify = max(t_mem, verify_tokens * t_cmp) + t_comm
    draft = draft_passes * max(draft_mem, draft_cmp)
    return SpecStep(
        tokens_per_step=tokens_per_step,
        plain_step_s=plain,
        verify_s=verify,
        draft_s=draft,
        speedup=tokens_per_step * plain / (verify + draft),
        bound="bandwidth" if t_mem >= verify_tokens * t_cmp else "compute",
    )


def head_share(layers: int) -> float:
    """Cost of one MTP/EAGLE draft pass as a share of a target pass.

    The module is one transformer block (DeepSeek-V3's MTP module; an EAGLE
    draft head), so it moves and computes about ``1 / layers`` of the target's
    per-token work. The shared embedding and output head are not counted.
    """
    if layers < 1:
        raise InputError("layers", f"got {layers!r}; allowed: a whole number of at least 1")
    return 1.0 / layers


def breakeven_verify_tokens(t_mem: float, t_cmp: float) -> float:
    """Tokens per sequence a verify pass can check before it turns compute-bound.

    ``t_mem / t_cmp``: below it the extra tokens ride on bandwidth the step
    pays anyway; above it every extra token costs ``t_cmp``.
    """
    return math.inf if t_cmp <= 0 else t_mem / t_cmp


@dataclass(frozen=True)
class Setting:
    """Speculative decoding as a replica runs it.

    Attributes
    ----------
    method
        ``"mtp"`` (one-layer heads) or ``"draft_model"``.
    acceptance
        Per-token acceptance rate of the drafts [share].
    draft_tokens
        Tokens drafted per step, ``k`` (a chain) [tokens].
    weight_share, kv_share, flop_share
        One draft pass's weight bytes, KV bytes and FLOPs per token as shares
        of the target's.
    draft_weight_bytes
        Extra weights the drafter keeps in memory [B].
    """

    method: str
    acceptance: float
    draft_tokens: int
    weight_share: float
    kv_share: float
    flop_share: float
    draft_weight_bytes: float

    @property
    def tokens_per_step(self) -> float:
        """:func:`accepted_tokens` of this setting [tokens/step]."""
        return accepted_tokens(self.acceptance, self.draft_tokens)

    @property
    def verify_tokens(self) -> int:
        """Tokens per sequence one verify pass checks: ``k + 1``."""
        return self.draft_tokens + 1

    def per_token(self, t_weights: float, t_kv: float, t_cmp: float, comm: float,
                  t_flops_mem: float = 0.0) -> tuple[float, float, float]:
        """A decode step's bandwidth, compute and communication time per output token [s].

        ``t_weights + t_kv + t_flops_mem`` is a plain step's bandwidth-side
        time (weight reads, the batch's KV reads, and, with the fitted
        efficiency model, the step's FLOPs run one after the bytes), ``t_cmp``
        its compute time, ``comm`` its all-reduce, all at the same batch. With
        speculation each verify step reads the same bytes, does ``k + 1``
        times the FLOPs (both FLOP terms scale), and is preceded by ``k``
        draft passes, each a small roofline ``max(weight_share x t_weights +
        kv_share x t_kv + flop_share x t_flops_mem, flop_share x t_cmp)``; it
        yields :attr:`tokens_per_step` tokens. The draft time is added to both
        sides (it runs before the verify pass, not beside it), and everything
        is divided by the tokens per step, so the engine's per-token formulas
        apply unchanged (see :func:`step` for the same arithmetic per step).
        """
        v = self.verify_tokens
        draft = self.draft_tokens * max(
            self.weight_share * t_weights + self.kv_share * t_kv + self.flop_share * t_flops_mem,
            self.flop_share * t_cmp)
        tau = self.tokens_per_step
        return ((t_weights + t_kv + v * t_flops_mem + draft) / tau, (v * t_cmp + draft) / tau, comm / tau)


def setting(method: str, acceptance: float, draft_tokens: int, target, draft=None,
            bytes_per_param: float = 1.0, bytes_per_kv: float = 1.0) -> Setting | None:
    """The :class:`Setting` for a target model; None when ``method`` is ``"off"``.

    ``"mtp"``: one transformer block per drafted token (:func:`head_share` of
    the target's weights and FLOPs, no KV of its own worth counting), its
    weights kept beside the target's. ``"draft_model"``: the ``draft`` model's
    own weights, KV and FLOPs relative to the target's, in the same formats.

    Raises
    ------
    InputError
        For an unknown method, a bad acceptance or draft length, or a draft
        model no smaller than the target.
    """
    if method not in METHODS:
        raise InputError("speculative", f"got {str(method)[:40]!r}; allowed: {', '.join(METHODS)}")
    if method == "off":
        return None
    accepted_tokens(acceptance, draft_tokens)  # validates both
    if draft_tokens < 1:
        raise InputError("spec_draft_tokens", f"got {draft_tokens!r}; allowed: a whole number of at least 1")
    if method == "mtp":
        share = head_share(target.layers)
        return Setting(method, acceptance, draft_tokens, share, 0.0, share,
                       target.params_total_B * 1e9 * share * bytes_per_param)
    if draft is None or draft.params_total_B >= target.params_total_B:
        raise InputError("spec_draft_model", "a draft model must be smaller than the model it drafts for")
    return Setting(
        method, acceptance, draft_tokens,
        weight_share=draft.params_total_B / target.params_total_B,
        kv_share=draft.kv_bytes_per_token(bytes_per_kv) / target.kv_bytes_per_token(bytes_per_kv),
        flop_share=draft.params_active_B / target.params_active_B,
        draft_weight_bytes=draft.params_total_B * 1e9 * bytes_per_param,
    )
