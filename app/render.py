"""HTML fragments: headline figures, notices, formulas, accelerator specs, snippets.

Everything interpolated is escaped with :func:`esc`; the only links made are
``http(s)`` URLs found in spec sources (:func:`linkify`). Numbers come from
the engine and are only formatted here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from levers.explain import money, pct, times
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


def num(x: float, digits: int = 0) -> str:
    """A number with thousands separators."""
    return f"{x:,.{digits}f}"


# ---- headline ---------------------------------------------------------
def _band(value_ms: float, band: str, low: float, high: float) -> str:
    if band == "inside":
        cls, note = "cl-good", "inside the SLO band"
    elif band == "below":
        cls, note = "cl-good", "faster than the band (better)"
    else:
        cls, note = "cl-warn", "above the band"
    return (f'<div class="v {cls}">{num(value_ms, 0 if value_ms >= 10 else 1)} ms</div>'
            f'<div class="n"><span class="{cls}">{esc(note)}</span> · band {num(low)}–{num(high)} ms</div>')


def headline(w: Waterfall, s) -> str:
    """The headline figures for waterfall ``w`` of scenario ``s``."""
    first, last = w.steps[0], w.steps[-1]
    cards = [
        ("Final cost", f'<div class="v">{esc(money(w.final_cost_per_day))}/day</div>'
         f'<div class="n">from {esc(money(w.baseline_cost_per_day))}/day</div>'),
        ("Cheaper by", f'<div class="v">{esc(f"{w.total_multiplier:,.1f}")}×</div>'
         f'<div class="n">{esc(times(w.total_multiplier))} overall</div>'),
        ("Output tokens", f'<div class="v">${last.usd_per_1m_output:,.2f}</div>'
         f'<div class="n">per 1M output tokens (all-in ${last.usd_per_1m_tokens:,.2f}/1M)</div>'),
        ("GPUs", f'<div class="v">{num(first.gpus)} → {num(last.gpus)}</div>'
         f'<div class="n">{esc(first.hardware)} → {esc(last.hardware)}</div>'),
        ("Energy", f'<div class="v">{num(last.energy_kwh_per_day)} kWh/day</div>'
         f'<div class="n">from {num(first.energy_kwh_per_day)} kWh/day, at TDP</div>'),
        ("TTFT", _band(last.ttft_ms, last.ttft_band, s.ttft_slo_low_ms, s.ttft_slo_high_ms)),
        ("TPOT", _band(last.tpot_ms, last.tpot_band, s.tpot_slo_low_ms, s.tpot_slo_high_ms)),
    ]
    if w.mode == "illustrative":
        cards[4] = (cards[4][0], cards[4][1] + '<div class="n">GPUs, energy and latency modeled</div>')
    elif last.uncertainty > 1:  # the efficiency fit's residuals on published measurements
        cards[0] = (cards[0][0], cards[0][1] + (
            f'<div class="n">model range {esc(money(last.cost_per_day_low))}–'
            f'{esc(money(last.cost_per_day_high))}/day (×/÷ {last.uncertainty:.2f})</div>'))
    body = "".join(f'<div class="cl-stat"><div class="k">{esc(k)}</div>{v}</div>' for k, v in cards)
    return f'<div class="cl-stats" role="group" aria-label="Headline figures">{body}</div>'


# ---- lever cards -------------------------------------------------------
def lever_summary(st: Step) -> str:
    """The multiplier a lever produces now and the engine's one-line explanation."""
    if st.on:
        mult = f'<span class="cl-mult">{esc(times(st.multiplier))}</span>'
    else:
        mult = '<span class="cl-mult off">÷1</span> <span class="cl-badge">off</span>'
    after = f'<span class="cl-muted"> → {esc(money(st.cost_per_day))}/day, {num(st.gpus)} GPUs</span>'
    return f'<div>{mult}{after}</div><div class="cl-expl">{esc(st.explanation)}</div>'


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
                   f'<textarea readonly aria-label="Embed snippet">{esc(snippet)}</textarea></label>')
    out.append("</div>")
    return "".join(out)


def iframe_snippet(url: str) -> str:
    """A ready-to-paste iframe for ``url`` (already carrying ``embed=1``)."""
    return (f'<iframe src="{esc(url)}" title="Cost Levers calculator" loading="lazy" '
            'width="100%" height="1400" style="border:0; max-width:1280px"></iframe>')


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
    cfg = st.details.get("config", {})
    out = ['<div class="cl-formulas">']
    out.append(
        "<p>A replica is one copy of a model on <i>tp</i> accelerators. Its memory holds the weights "
        "and, in what is left, the KV cache of the sequences it decodes at once (the batch). A decode "
        "step streams the weights once for the whole batch plus each sequence's KV cache, so it is "
        "bandwidth-bound until the batch is large; prefill of the uncached prompt is compute-bound. "
        "The fleet is sized for the busiest hour, and the bill is GPUs × price × 24 h.</p>")
    out.append(f"<p>Numbers of the <b>{esc(st.title)}</b> step: {esc(cfg.get('hardware', st.hardware))}, "
               f"{esc(cfg.get('batching', ''))} batching, {esc(cfg.get('weights', ''))} weights, "
               f"{esc(cfg.get('kv_cache', ''))} KV cache, prefix-cache hit rate "
               f"{esc(pct(cfg.get('cache_hit_rate', 0)))}, {esc(pct(cfg.get('route_share', 0)))} "
               "routed to the small model.</p>")
    try:
        for fleet in st.details.get("fleets", []):
            role = fleet["role"]
            out.append(f"<h4>{esc(role.capitalize())} model: {esc(fleet['model'])} "
                       f"({esc(pct(fleet['request_share']))} of requests)</h4>")
            out.append(_lines(derivation.fleet_lines(st, s, role)))
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
