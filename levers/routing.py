"""Lever 3: model routing.

Easy requests are answered by a small model. Two policies: a *cascade*
sends every request to the small model first and escalates the ones it is
not confident about; a *split* lets a router send each request to one model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .explain import pct

ID = "routing"
TITLE = "Model routing"
#: Label on the waterfall's bars.
SHORT = "Routing"
#: The scenario inputs this lever's card shows.
INPUTS = ('route_share', 'route_policy')
#: Illustrative multiplier, the lesson's worked example [x].
ILLUSTRATIVE = 2.8


def apply(cfg, s):
    """Send ``route_share`` of requests to the small model, by ``route_policy``."""
    return replace(cfg, route_share=s.route_share, route_policy=s.route_policy)


def explain(before, after, s) -> str:
    """Who serves what, and each model's accelerator-seconds per request."""
    if s.route_share <= 0:
        return "no request goes to the small model: no change"
    big, small = after.fleet("big"), after.fleet("small")
    small_cost = small.perf.gpu_seconds_per_request
    ratio = ""
    if big is not None:
        ratio = (f" ({small.model} costs 1/{big.perf.gpu_seconds_per_request / small_cost:.0f} "
                 f"of {big.model} per request)")
    if s.route_policy == "cascade":
        head = (f"cascade: every request tries {small.model} first, {pct(s.route_share)} are "
                f"answered there and {pct(1 - s.route_share)} escalate to {s.big_model}")
    else:
        head = (f"split: {pct(s.route_share)} of requests go to {small.model}, "
                f"{pct(1 - s.route_share)} to {s.big_model}")
    return f"{head}{ratio}"


def shares(route_share: float, policy: str) -> dict[str, float]:
    """Share of all requests each model processes.

    Split: the small model gets ``route_share``, the big one the rest.
    Cascade: the small model sees every request, the big one the ``1 -
    route_share`` that escalate.
    """
    out = {"big": 1.0 - route_share, "small": route_share}
    if policy == "cascade" and route_share > 0:
        out["small"] = 1.0
    return out


@dataclass(frozen=True)
class RequestClass:
    """Latency as one class of requests sees it.

    Attributes
    ----------
    name
        ``"all"``, ``"big"``/``"small"`` (split), ``"answered by small"`` or
        ``"escalated"`` (cascade).
    share
        Share of all requests.
    ttft_p50_ms, ttft_p90_ms, tpot_ms
        Median and 90th-percentile time to first token, and time per output
        token of the reply the user reads [ms].
    slo_met
        Both ``ttft_p90_ms`` and ``tpot_ms`` within the bands' upper edges.
    """

    name: str
    share: float
    ttft_p50_ms: float
    ttft_p90_ms: float
    tpot_ms: float
    slo_met: bool


def request_classes(fleets, cfg, s, escalate: float, tg,
                    output_tokens: float | None = None) -> tuple[RequestClass, ...]:
    """Latency per class of request.

    A cascade's escalated request first runs to the end of the small model's
    reply, then starts over on the big model: its TTFT quantile is taken as
    the sum of the two models' TTFT quantiles plus the small reply's
    remaining ``o - 1`` tokens (an upper bound for the sum of two waits), and
    its reply streams at the big model's TPOT.
    """
    by = {f.role: f for f in fleets}
    big, small = by.get("big"), by.get("small")

    def cls(name, share, p50, p90, tpot):
        ok = p90 <= tg.ttft_s * (1 + 1e-9) and tpot <= tg.tpot_s * (1 + 1e-9)
        return RequestClass(name, share, p50 * 1e3, p90 * 1e3, tpot * 1e3, ok)

    if small is None or big is None:
        f = big or small
        return (cls("all", 1.0, f.ttft_p50_s, f.ttft_p90_s, f.tpot_s),)
    if cfg.route_policy == "cascade":
        o = s.output_tokens if output_tokens is None else output_tokens  # reasoning: thinking included
        rest = (o - 1) * small.tpot_s
        return (
            cls("answered by small", cfg.route_share, small.ttft_p50_s, small.ttft_p90_s,
                small.tpot_s),
            cls("escalated", escalate, small.ttft_p50_s + rest + big.ttft_p50_s,
                small.ttft_p90_s + rest + big.ttft_p90_s, big.tpot_s),
        )
    return (
        cls("small", cfg.route_share, small.ttft_p50_s, small.ttft_p90_s, small.tpot_s),
        cls("big", escalate, big.ttft_p50_s, big.ttft_p90_s, big.tpot_s),
    )
