"""Lever 3: model routing.

Easy requests are answered by a small model. Two policies: a *cascade*
sends every request to the small model first and escalates the ones it is
not confident about; a *split* lets a router send each request to one model.
"""

from __future__ import annotations

from dataclasses import replace

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
