"""HTML fragments: headline figures, notices, formulas, accelerator specs, snippets.

Everything interpolated is escaped with :func:`esc`; the only links made are
``http(s)`` URLs found in spec sources (:func:`linkify`). Numbers come from
the engine and are only formatted here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from levers.explain import money, ms, num, pct, times
from levers.waterfall import Step, Waterfall

_URL = re.compile(r"https?://[^\s<>\"'()\[\]{}]+")


def esc(x) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(x), quote=True)


def linkify(text: str) -> str:
    """Escape ``text``, turning each http(s) URL in it into a link."""
    out, pos = [], 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?")
        end = m.start() + len(url)
        out.append(esc(text[pos:m.start()]))
        out.append(f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer nofollow">{esc(url)}</a>')
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


# ---- headline ---------------------------------------------------------
def _band_note(band: str) -> tuple[str, str]:
    if band == "above":
        return "cl-warn", "above the band"
    if band == "below":
        return "cl-good", "faster than the band"
    return "cl-good", "inside the band"


def _latency_card(label: str, value_ms: float, band: str, low: float, high: float, extra: str = "") -> str:
    cls, note = _band_note(band)
    return (f'<div class="v {cls}">{esc(ms(value_ms))}</div>'
            f'<div class="n"><span class="{cls}">{esc(note)}</span> {num(low)}–{num(high)} ms{extra}</div>')


def headline(w: Waterfall, s) -> str:
    """The headline figures for waterfall ``w`` of scenario ``s`` (the final step's).

    In illustrative mode the dollars are the hand-set ones and everything
    else is modeled; each card says which it shows.
    """
    first, last = w.steps[0], w.steps[-1]
    illustrative = w.mode == "illustrative"
    hand = " (set by hand)" if illustrative else ""
    p90 = getattr(last, "ttft_p90_ms", 0.0) or last.ttft_ms
    cards = [
        ("Final cost" + hand, f'<div class="v">{esc(money(w.final_cost_per_day))}/day</div>'
         f'<div class="n">from {esc(money(w.baseline_cost_per_day))}/day, '
         f'{esc(times(w.total_multiplier).split(",")[0])} overall</div>'),
        ("Price per 1M output tokens" + hand, f'<div class="v">${last.usd_per_1m_output:,.2f}</div>'
         f'<div class="n">all tokens: ${last.usd_per_1m_tokens:,.2f} per 1M</div>'),
        ("GPUs (modeled)", f'<div class="v">{num(first.gpus)} → {num(last.gpus)}</div>'
         f'<div class="n">{esc(first.hardware)} → {esc(last.hardware)}</div>'),
        ("TTFT p90 (modeled)", _latency_card("TTFT", p90, last.ttft_band, s.ttft_slo_low_ms,
                                              s.ttft_slo_high_ms, "; slowest class")),
        ("TPOT (modeled)", _latency_card("TPOT", last.tpot_ms, last.tpot_band, s.tpot_slo_low_ms,
                                         s.tpot_slo_high_ms)),
        ("Energy (modeled)", f'<div class="v">{num(last.energy_kwh_per_day)} kWh/day</div>'
         f'<div class="n">from {num(first.energy_kwh_per_day)} kWh/day, at TDP</div>'),
    ]
    if not illustrative and getattr(last, "uncertainty", 1.0) > 1:  # the efficiency fit's residuals
        cards[0] = (cards[0][0], cards[0][1] + (
            f'<div class="n">model range {esc(money(last.cost_per_day_low))}–'
            f'{esc(money(last.cost_per_day_high))}/day</div>'))
    body = "".join(f'<div class="cl-stat"><div class="k">{esc(k)}</div>{v}</div>' for k, v in cards)
    out = f'<div class="cl-stats" role="group" aria-label="Headline figures">{body}</div>'
    if illustrative:
        out += ('<div class="cl-honest">Illustrative mode: the dollars are the baseline bill and the '
                "multipliers set by hand, as in the lesson's table (which rounds: it shows $2,330/day "
                "where $3,500 ÷ 1.5 is $2,333). GPUs, latency and energy are modeled for the same "
                "settings, so GPUs × price need not equal the bill.</div>")
    return out


def slo_status(st: Step) -> str:
    """Whether a step meets its latency targets, and the engine's reason when not."""
    if getattr(st, "slo_met", True):
        return '<span class="cl-good">✓ meets the SLO</span>'
    reason = getattr(st, "slo_reason", "")
    return f'<span class="cl-warn">✗ misses the SLO</span>{": " + esc(reason) if reason else ""}'


def latency_classes(st: Step) -> str:
    """Latency per class of request (cascade: answered by the small model, escalated)."""
    classes = getattr(st, "classes", ())
    if not classes:
        return ""
    rows = "".join(
        f'<tr><td>{esc(c.name)}</td><td>{esc(pct(c.share))}</td><td>{esc(ms(c.ttft_p50_ms))}</td>'
        f'<td>{esc(ms(c.ttft_p90_ms))}</td><td>{esc(ms(c.tpot_ms))}</td>'
        f'<td class="{"cl-good" if c.slo_met else "cl-warn"}">{"✓" if c.slo_met else "✗"}</td></tr>'
        for c in classes)
    return ('<table class="cl-classes"><caption>Latency per class of request</caption><thead><tr>'
            '<th>Class</th><th>Share</th><th>TTFT p50</th><th>TTFT p90</th><th>TPOT</th><th>SLO</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>")


# ---- lever cards -------------------------------------------------------
def lever_summary(st: Step) -> str:
    """The multiplier a lever produces now, the latency it leaves, and the engine's explanation."""
    if st.on:
        mult = f'<span class="cl-mult">{esc(times(st.multiplier).split(",")[0])}</span>'
    else:
        mult = '<span class="cl-mult off">÷1</span> <span class="cl-badge">off</span>'
    after = f'<span class="cl-muted"> → {esc(money(st.cost_per_day))}/day, {num(st.gpus)} GPUs</span>'
    p90 = getattr(st, "ttft_p90_ms", 0.0) or st.ttft_ms
    tcls, _ = _band_note(st.ttft_band)
    pcls, _ = _band_note(st.tpot_band)
    lat = (f'<div class="cl-lat">TTFT p90 <b class="{tcls}">{esc(ms(p90))}</b> · TPOT '
           f'<b class="{pcls}">{esc(ms(st.tpot_ms))}</b> · {slo_status(st)}</div>')
    return f'<div>{mult}{after}</div>{lat}<div class="cl-expl">{esc(st.explanation)}</div>'


# ---- capacity chain ------------------------------------------------------
def capacity(st: Step) -> str:
    """One replica of each fleet of step ``st``: memory → batch → tokens/s → $/1M.

    Every figure is the engine's typed result (``st.outcome.fleets[i].perf``);
    the bar widths are the shares of the replica's memory the engine reports.
    """
    o = getattr(st, "outcome", None)
    fleets = list(o.fleets) if o is not None else []
    if not fleets:
        return ""
    out = [f'<div class="cl-capacity"><div class="cl-cap-title">Capacity at the <b>{esc(st.title)}</b> '
           f"step, one replica per model</div>"]
    for fl in fleets:
        p = fl.perf
        mem, weights, kv, tp = p.memory_GB, p.weight_GB, p.kv_budget_GB, p.tp
        w_share, used_share, free_share = p.memory_shares  # the engine's split of the replica's memory
        out.append(
            f'<div class="cl-cap-fleet"><div class="cl-cap-head">{esc(fl.role.capitalize())} model '
            f'<b>{esc(fl.model)}</b> on {num(tp)} × {esc(st.hardware)}, {num(fl.replicas)} replicas</div>'
            f'<div class="cl-membar" role="img" aria-label="memory: weights {num(weights, 1)} GB, '
            f'KV budget {num(kv, 1)} GB of {num(mem, 1)} GB">'
            f'<span class="w" style="width:{100 * w_share:.1f}%"></span>'
            f'<span class="kv" style="width:{100 * used_share:.1f}%"></span>'
            f'<span class="free" style="width:{100 * free_share:.1f}%"></span></div>'
            f'<div class="cl-cap-legend"><span class="sw w"></span>weights {num(weights, 1)} GB '
            f'<span class="sw kv"></span>KV of the batch <span class="sw free"></span>KV room left · '
            f"{num(mem, 1)} GB usable</div>"
            f'<ol class="cl-chain"><li><b>{num(p.batch)}</b> sequences per batch '
            f'<span class="cl-muted">(limit: {esc(p.batch_limit)}; memory fits {num(p.batch_by_memory)})'
            "</span></li>"
            f'<li><b>{num(p.output_tokens_per_s)}</b> output tokens/s per replica of {num(tp)} GPU'
            f'{"s" if tp != 1 else ""}</li>'
            f'<li><b>{num(p.requests_per_s, 1)}</b> requests/s per replica</li></ol></div>')
    out.append(f'<div class="cl-cap-price">→ <b>${st.usd_per_1m_output:,.2f}</b> per 1M output tokens, '
               f"${st.usd_per_1m_tokens:,.2f} per 1M tokens of all kinds</div></div>")
    return "".join(out)


# ---- notices -----------------------------------------------------------
def notices(items: Iterable, title: str = "Some settings were not applied") -> str:
    """A list of ``(key, message)`` notices, escaped."""
    items = list(items)
    if not items:
        return ""
    lis = "".join(f"<li><code>{esc(n.key)}</code>: {esc(n.message)}</li>" for n in items)
    return f'<div class="cl-notice" role="status"><strong>{esc(title)}</strong><ul>{lis}</ul></div>'


# ---- share / embed -----------------------------------------------------
def share_box(link: str, snippet: str | None) -> str:
    """Read-only fields with the share link and, if given, the iframe snippet."""
    out = ['<div class="cl-share">',
           '<label>Share link<br><input type="text" readonly aria-label="Share link" '
           f'value="{esc(link)}"></label>']
    if snippet is not None:
        out.append('<label style="display:block;margin-top:6px">Embed snippet (paste into a page)<br>'
                   f'<textarea readonly aria-label="Embed snippet">{esc(snippet)}</textarea></label>'
                   '<div class="cl-expl">The host page needs nothing else: the script line after '
                   "the iframe sets its height from the messages the calculator sends.</div>")
    out.append("</div>")
    return "".join(out)


def iframe_snippet(url: str) -> str:
    """A ready-to-paste iframe for ``url`` (already carrying ``embed=1``)."""
    return (f'<iframe src="{esc(url)}" title="Cost Levers calculator" loading="lazy" '
            'data-cost-levers style="width:100%;height:900px;border:0"></iframe>\n' + RESIZE_LISTENER)


#: The host page's side of the self-sizing iframe: the calculator posts
#: ``{type: "cost-levers:height", height}`` (static/embed-resize.js).
RESIZE_LISTENER = (
    '<script>addEventListener("message",function(e){var d=e.data;'
    'if(!d||d.type!=="cost-levers:height")return;'
    'document.querySelectorAll("iframe[data-cost-levers]").forEach(function(f){'
    'if(f.contentWindow===e.source)f.style.height=d.height+"px";});});</script>')


# ---- formulas -----------------------------------------------------------
def _lines(lines) -> str:
    """``levers.derivation.Line`` records as formula blocks."""
    out = []
    for ln in lines:
        nums = f'<div class="eq">= {esc(ln.numbers)}</div>' if ln.numbers else ""
        out.append(f'<div class="ln"><div class="what">{esc(ln.what)}</div>'
                   f'<div class="eq">{esc(ln.formula)}</div>{nums}'
                   f'<div class="res">= {esc(ln.result)}</div></div>')
    return "".join(out)


def formulas(w: Waterfall, s, step_lever: str, train_row=None, train_inputs: dict | None = None) -> str:
    """How the numbers are computed, with the current inputs substituted.

    The formulas and their substituted values come from
    :mod:`levers.derivation` (the engine's own intermediate results); this
    only lays them out.
    """
    from levers import derivation

    st = next((x for x in w.steps if x.lever == step_lever), w.steps[-1])
    o = st.outcome  # the typed result the step was computed from
    cfg = o.config if o is not None else None
    out = ['<div class="cl-formulas">']
    out.append(
        "<p>A replica is one copy of a model on <i>tp</i> accelerators. Its memory holds the weights "
        "and, in what is left, the KV cache of the sequences it decodes at once (the batch). A decode "
        "step streams the weights once for the whole batch plus each sequence's KV cache, so it is "
        "bandwidth-bound until the batch is large; prefill of the uncached prompt is compute-bound. "
        "The fleet is sized for the busiest hour: each batch keeps TPOT under its target, and there "
        "are enough replicas that the 90th-percentile TTFT, queueing included, stays under its "
        "target. The bill is GPUs × price × 24 h.</p>")
    if cfg is not None:
        out.append(f"<p>Numbers of the <b>{esc(st.title)}</b> step: {esc(cfg.hardware)}, "
                   f"{esc(cfg.batching)} batching, {esc(cfg.weights)} weights, "
                   f"{esc(cfg.kv_cache)} KV cache, prefix-cache hit rate "
                   f"{esc(pct(cfg.cache_hit_rate))}, {esc(pct(cfg.route_share))} "
                   "routed to the small model.</p>")
    try:
        for fleet in (o.fleets if o is not None else ()):
            out.append(f"<h4>{esc(fleet.role.capitalize())} model: {esc(fleet.model)} "
                       f"({esc(pct(fleet.request_share))} of requests)</h4>")
            out.append(_lines(derivation.fleet_lines(st, s, fleet.role)))
        out.append("<h4>Fleet and cost</h4>")
        out.append(_lines(derivation.cost_lines(st)))
    except Exception as e:  # the derivation is explanatory: never break the page for it
        out.append(f"<p>(derivation unavailable: {esc(type(e).__name__)})</p>")
    out.append("<h4>The waterfall</h4><p>Each lever's multiplier is <span class=\"eq\">cost before / "
               "cost after</span>, with the levers before it already pulled, so the multipliers "
               "multiply to <span class=\"eq\">baseline / final = "
               f"{esc(money(w.baseline_cost_per_day))} / {esc(money(w.final_cost_per_day))} = "
               f"{esc(times(w.total_multiplier))}</span>.")
    if w.mode == "illustrative":
        out.append(" In illustrative mode the baseline bill and each multiplier are set by hand; "
                   "GPUs, latency and energy are still modeled as above.")
    out.append("</p>")
    if train_row is not None and train_inputs:
        out.append(f"<h4>Training (hardware tab), on {esc(train_row.name)}</h4>")
        try:
            out.append(_lines(derivation.training_lines(train_row, **train_inputs)))
        except Exception as e:
            out.append(f"<p>(derivation unavailable: {esc(type(e).__name__)})</p>")
    out.append("</div>")
    return "".join(out)


# ---- accelerator specs --------------------------------------------------
def specs_html(catalog: dict) -> str:
    """Every accelerator's figures, each table with its source (links for http(s) only)."""
    out = ['<div class="cl-spec">']
    for acc in catalog.values():
        rows = [
            ("BF16 dense", f"{num(acc.bf16_dense_TFLOPS, 1)} TFLOP/s", "compute"),
            ("FP8 dense", f"{num(acc.fp8_dense_TFLOPS, 1)} TFLOP/s" if acc.fp8_dense_TFLOPS else "—", "compute"),
            ("FP4 dense", f"{num(acc.fp4_dense_TFLOPS, 1)} TFLOP/s" if acc.fp4_dense_TFLOPS else "—", "compute"),
            ("Memory", f"{num(acc.hbm_GB)} GB at {acc.hbm_bandwidth_TBps:g} TB/s", "memory"),
            ("Power", f"{num(acc.tdp_W)} W" + (" (estimate)" if acc.tdp_is_estimate else ""), "power"),
            ("Scale-up", f"{num(acc.scale_up_GBps)} GB/s", "interconnect"),
            ("Price", f"${acc.usd_per_hour:.2f}/GPU-hour", "price"),
        ]
        body = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v, _ in rows)
        srcs = "".join(
            f"<li><b>{esc(table)}</b> ({esc(src.as_of)}): {linkify(src.source)}</li>"
            for table, src in acc.sources.items()
        )
        notes = f'<p class="src">{esc(acc.notes)}</p>' if acc.notes else ""
        out.append(f"<details><summary>{esc(acc.name)} <span class=\"cl-muted\">({esc(acc.id)}, "
                   f"{esc(acc.vendor)})</span></summary><table>{body}</table>{notes}"
                   f'<ul class="src">{srcs}</ul></details>')
    out.append("</div>")
    return "".join(out)
