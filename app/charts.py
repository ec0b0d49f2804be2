"""Bokeh figures: the cost waterfall and the training bars.

Each figure is built once; updates replace its ColumnDataSource's ``data``.
The data columns are the engine's numbers as they come, plus text for
labels; the bars' ends are the engine's costs before and after each step.
"""

from __future__ import annotations

from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    DataRange1d,
    FactorRange,
    Grid,
    HoverTool,
    Label,
    LabelSet,
    NumeralTickFormatter,
)
from bokeh.plotting import figure

from levers.explain import money, money_short, ms, ms_short, times
from levers.registry import REGISTRY
from levers.waterfall import Waterfall

#: Colours that read on light and dark backgrounds.
COLORS = {
    "baseline": "#6b7a8f",
    "saving": "#2a9d8f",
    "rise": "#e76f51",
    "off": "#adb5bd",
    "final": "#2b6cb0",
}
SHORT = {
    "baseline": "Baseline",
    **{m.ID: m.SHORT for m in REGISTRY},
    "final": "Final",
}
YAXES = {
    "usd_per_day": ("Cost [$/day]", "$0,0"),
    "usd_per_1m_tokens": ("Cost [$ per 1M tokens]", "$0,0.00"),
    "usd_per_task": ("Cost [$ per task]", "$0,0.[0000]"),
}

TOOLTIP = """
<div style="max-width: 300px; white-space: normal; font-size: 13px; line-height: 1.35">
  <div style="font-weight: 700">@title</div>
  <div>@label_flat</div>
  <div>@latency_flat</div>
  <div style="margin-top: 4px">@explanation</div>
</div>
"""

WATERFALL_COLUMNS = (
    "x", "lever", "title", "on", "cost_per_day", "usd_per_1m_tokens", "multiplier", "top",
    "bottom", "label_y", "label", "label_short", "label_flat", "explanation", "color",
    "ttft_ms", "ttft_p90_ms", "tpot_ms", "ttft_band", "tpot_band", "slo_met", "slo_reason",
    "ttft_text", "tpot_text", "slo_text", "ttft_color", "tpot_color", "latency_flat",
    "row_ttft", "row_tpot", "row_slo", "slo_color", "ttft_short", "tpot_short",
    "ttft_color_dark", "tpot_color_dark", "slo_color_dark",
)
#: The latency strip's rows (categorical y values, one column each in the source).
STRIP_ROWS = {"row_ttft": "TTFT p90", "row_tpot": "TPOT", "row_slo": "SLO"}

#: Text colours of the latency strip, within the band and above it, for each
#: theme (at least 4.5:1 against the page background: WCAG AA).
LATENCY_COLORS = {"ok": "#17695f", "above": "#b3261e"}
LATENCY_COLORS_DARK = {"ok": "#5cc8b8", "above": "#ff8a75"}


def _price(x: float) -> str:
    return f"${x:,.2f}" if x < 100 else money(x)


def _task_price(x: float) -> str:
    return f"${x:,.4g}" if x < 100 else money(x)


def _latency(st) -> dict:
    """A step's latency columns, as the engine reports them (p90 TTFT where it gives one)."""
    p90 = getattr(st, "ttft_p90_ms", 0.0) or st.ttft_ms
    met = getattr(st, "slo_met", True)
    reason = getattr(st, "slo_reason", "")
    tt = LATENCY_COLORS["above" if st.ttft_band == "above" else "ok"]
    tp = LATENCY_COLORS["above" if st.tpot_band == "above" else "ok"]
    mark = "SLO met" if met else "SLO missed"
    return dict(
        ttft_ms=st.ttft_ms, ttft_p90_ms=p90, tpot_ms=st.tpot_ms, ttft_band=st.ttft_band,
        tpot_band=st.tpot_band, slo_met=met, slo_reason=reason,
        ttft_text=ms(p90), tpot_text=ms(st.tpot_ms), slo_text="✓" if met else "✗",
        slo_color=LATENCY_COLORS["ok" if met else "above"],
        ttft_color_dark=LATENCY_COLORS_DARK["above" if st.ttft_band == "above" else "ok"],
        tpot_color_dark=LATENCY_COLORS_DARK["above" if st.tpot_band == "above" else "ok"],
        slo_color_dark=LATENCY_COLORS_DARK["ok" if met else "above"],
        ttft_short=ms_short(p90), tpot_short=ms_short(st.tpot_ms),
        ttft_color=tt, tpot_color=tp, **STRIP_ROWS,
        latency_flat=(f"TTFT p90 {ms(p90)} ({st.ttft_band} the band) · TPOT {ms(st.tpot_ms)} "
                      f"({st.tpot_band} the band) · {mark}" + (f": {reason}" if reason else "")),
    )


def waterfall_data(w: Waterfall, yaxis: str = "usd_per_day") -> dict[str, list]:
    """Columns for the waterfall's ColumnDataSource: baseline, the levers, final.

    ``cost_per_day``, ``multiplier`` and the latency columns are the engine's;
    ``top``/``bottom`` are the step's value before and after it on the chosen
    axis. The final bar repeats the last step's latency.
    """
    per_day = yaxis == "usd_per_day"
    steps = list(w.steps)
    vals = [st.cost_per_day if per_day else getattr(st, yaxis) for st in steps]
    cols: dict[str, list] = {k: [] for k in WATERFALL_COLUMNS}
    fmt = money if per_day else _price if yaxis == "usd_per_1m_tokens" else _task_price
    short = money_short if per_day else fmt

    def add(st, lever, title, on, cost, mult, top, bottom, tag, expl, color):
        value = fmt(bottom if lever != "baseline" and lever != "final" else top)
        row = dict(
            x=SHORT[lever], lever=lever, title=title, on=on, cost_per_day=cost,
            usd_per_1m_tokens=st.usd_per_1m_tokens, multiplier=mult, top=top, bottom=bottom,
            label_y=max(top, bottom), label="\n".join(x for x in (value, tag) if x),
            label_short="\n".join(x for x in (short(bottom if lever not in ("baseline", "final") else top),
                                               tag) if x),
            label_flat=" · ".join(x for x in (value, tag) if x), explanation=expl, color=color,
            **_latency(st))
        for k, v in row.items():
            cols[k].append(v)

    for i, st in enumerate(steps):
        if st.lever == "baseline":
            add(st, "baseline", st.title, True, st.cost_per_day, st.multiplier, vals[i], 0.0, "",
                st.explanation, COLORS["baseline"])
            continue
        if not st.on:
            color, tag = COLORS["off"], "off"
        else:
            color = COLORS["saving"] if st.multiplier >= 1 else COLORS["rise"]
            tag = times(st.multiplier).split(",")[0]
        add(st, st.lever, st.title, st.on, st.cost_per_day, st.multiplier, vals[i - 1], vals[i], tag,
            st.explanation, color)
    last = steps[-1]
    add(last, "final", "Final cost", True, w.final_cost_per_day, w.total_multiplier, vals[-1], 0.0,
        times(w.total_multiplier).split(",")[0],
        f"{times(w.total_multiplier)} overall: {money(w.baseline_cost_per_day)}/day → "
        f"{money(w.final_cost_per_day)}/day", COLORS["final"])
    return cols


def waterfall_figure(data: dict[str, list], yaxis: str = "usd_per_day"):
    """The waterfall figure and its ColumnDataSource (named ``waterfall``)."""
    source = ColumnDataSource(data=data, name="waterfall")
    fig = figure(
        x_range=FactorRange(factors=list(data["x"])),
        y_range=DataRange1d(start=0, range_padding=0.5, only_visible=True),
        height=300,
        sizing_mode="stretch_width",
        toolbar_location=None,
        tools="",
        name="waterfall_figure",
        css_classes=["cl-waterfall"],
        min_border_left=8,
        min_border_right=8,
    )
    bars = fig.vbar(x="x", top="top", bottom="bottom", width=0.72, source=source,
                    fill_color="color", line_color="color", line_width=2)
    fig.add_tools(HoverTool(renderers=[bars], tooltips=TOOLTIP))
    labels = LabelSet(x="x", y="label_y", text="label", source=source, y_offset=3,
                      text_align="center", text_baseline="bottom", text_font_size="12px",
                      name="waterfall_labels")
    fig.add_layout(labels)
    # Narrow (phone, small iframe): slanted category names and short bar labels.
    adapt(fig, narrow=True)
    fig.xgrid.grid_line_color = None
    fig.xaxis.major_label_text_font_size = "12px"
    fig.yaxis.major_label_text_font_size = "12px"
    fig.yaxis.axis_label_text_font_size = "12px"
    fig.yaxis.formatter = NumeralTickFormatter(format=YAXES[yaxis][1])
    fig.yaxis.axis_label = YAXES[yaxis][0]
    fig.background_fill_color = None
    fig.border_fill_color = None
    fig.outline_line_color = None
    return fig, source


def latency_strip(fig, source):
    """TTFT (p90) and TPOT of every step, in a strip under the bars, red where above the band.

    Shares the waterfall's x range and source; ``✗`` marks a step that misses its SLO.
    """
    strip = figure(
        x_range=fig.x_range, y_range=FactorRange(factors=list(reversed(STRIP_ROWS.values()))),
        height=96, sizing_mode="stretch_width", toolbar_location=None, tools="",
        name="latency_strip", css_classes=["cl-latency-strip"], min_border_left=8, min_border_right=8,
    )
    for row, text, color in (("row_ttft", "ttft_text", "ttft_color"), ("row_tpot", "tpot_text", "tpot_color"),
                             ("row_slo", "slo_text", "slo_color")):
        strip.text(x="x", y=row, text=text, source=source, text_align="center",
                   text_baseline="middle", text_font_size={"value": "12px"}, text_color=color,
                   text_font_style="bold" if row == "row_slo" else "normal")
    texts = [r for r in strip.renderers]
    strip.js_on_change("inner_width", CustomJS(args=dict(texts=texts), code="""
const small = cb_obj.inner_width < 520;
texts[0].glyph.text = {field: small ? 'ttft_short' : 'ttft_text'};
texts[1].glyph.text = {field: small ? 'tpot_short' : 'tpot_text'};
const q = new URL(window.location.href).searchParams.get('theme');
const mq = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
const dark = q === 'dark' || (q !== 'light' && q !== 'default' && mq != null && mq.matches);
const sfx = dark ? '_dark' : '';
texts[0].glyph.text_color = {field: 'ttft_color' + sfx};
texts[1].glyph.text_color = {field: 'tpot_color' + sfx};
texts[2].glyph.text_color = {field: 'slo_color' + sfx};
"""))
    strip.xaxis.visible = False
    strip.xaxis.major_label_text_font_size = "12px"
    strip.yaxis.major_label_text_font_size = "12px"
    strip.yaxis.major_tick_line_color = None
    strip.yaxis.axis_line_color = None
    strip.xgrid.grid_line_color = None
    strip.ygrid.grid_line_color = None
    strip.background_fill_color = None
    strip.border_fill_color = None
    strip.outline_line_color = None
    adapt(strip)
    return strip


#: Runs in the browser whenever the plot is laid out (and when the system theme
#: changes): text and grid colours for the page's theme (``?theme=`` or the
#: system's), and, under 520 px, slanted group names of grouped categories and,
#: for ``narrow`` plots, slanted category names.
#: Client-side, so it works the same under ``panel serve`` and in Pyodide.
ADAPT_JS = """
const plot = cb_obj;
const q = new URL(window.location.href).searchParams.get('theme');
const mq = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
const dark = q === 'dark' || (q !== 'light' && q !== 'default' && mq != null && mq.matches);
const text = dark ? '#e9ecef' : '#343a40';
const grid = dark ? '#3a3f44' : '#e3e6ea';
for (const ax of axes) {
  ax.major_label_text_color = text; ax.axis_label_text_color = text;
  ax.axis_line_color = grid; ax.major_tick_line_color = grid;
}
for (const g of grids) { if (g.grid_line_color != null) { g.grid_line_color = grid; } }
for (const l of labels) { l.text_color = text; }
for (const g of legends) { g.label_text_color = text; g.background_fill_alpha = 0; g.border_line_color = grid; }
if (plot.title != null) { plot.title.text_color = text; }
const x = plot.x_range;
if (x.factors && x.factors.length && Array.isArray(x.factors[0])) {  // grouped categories: slant the groups
  axes[0].group_label_orientation = plot.inner_width < 520 ? 0.8 : 'horizontal';
}
if (narrow) {
  const small = plot.inner_width < 520;
  axes[0].major_label_orientation = small ? 0.8 : 'horizontal';
  for (const l of labels) { l.text = {field: small ? 'label_short' : 'label'}; }
}
if (mq != null && !plot.__cl_theme_listener) {
  plot.__cl_theme_listener = true;
  mq.addEventListener('change', () => plot.properties.inner_width.change.emit());
}
"""


def adapt(fig, narrow: bool = False) -> None:
    """Attach :data:`ADAPT_JS` to ``fig`` (theme colours; narrow layout if ``narrow``)."""
    axes = [a for a in (*fig.below, *fig.left) if a.visible]
    grids = [r for r in fig.center if isinstance(r, Grid)]
    labels = [r for r in fig.center if isinstance(r, LabelSet | Label)]
    legends = list(fig.legend)
    fig.js_on_change("inner_width", CustomJS(
        args=dict(axes=axes, grids=grids, labels=labels, legends=legends, narrow=narrow), code=ADAPT_JS))


#: Tick and slider text as :func:`levers.explain.count` writes numbers (70B, 2T, $2.0M):
#: the same rule, in the browser, for text BokehJS draws itself.
COMPACT_JS = """
const a = Math.abs(tick);
for (const [d, s] of [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'k']]) {
  if (a >= d) { const v = tick / d; const t = Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1).replace(/\\.0$/, '');
    return prefix + t + s; }
}
return prefix + (Number.isInteger(tick) ? tick.toLocaleString('en-US') : tick.toPrecision(2));
"""


def compact_formatter(prefix: str = ""):
    """A Bokeh tick formatter writing 70B, 2T, $2.0M (``prefix`` before the number)."""
    from bokeh.models import CustomJSTickFormatter

    return CustomJSTickFormatter(args=dict(prefix=prefix), code=COMPACT_JS)


def set_yaxis(fig, yaxis: str) -> None:
    """Label and format the y axis for ``yaxis``."""
    fig.yaxis.axis_label = YAXES[yaxis][0]
    fig.yaxis.formatter.format = YAXES[yaxis][1]


# ---- training ------------------------------------------------------------
TRAINING_COLUMNS = ("hardware", "name", "days", "cost_usd", "fastest", "cheapest",
                    "cost_label", "days_label", "cost_color", "days_color")


def training_data(rows) -> dict[str, list]:
    """Columns for the training bars, straight from the engine's rows."""
    cols: dict[str, list] = {k: [] for k in TRAINING_COLUMNS}
    for r in rows:
        cols["hardware"].append(r.hardware)
        cols["name"].append(r.hardware)
        cols["days"].append(r.days)
        cols["cost_usd"].append(r.cost_usd)
        cols["fastest"].append(r.fastest)
        cols["cheapest"].append(r.cheapest)
        cols["cost_label"].append(money_short(r.cost_usd) + ("  cheapest" if r.cheapest else ""))
        cols["days_label"].append(f"{r.days:,.1f} d" + ("  fastest" if r.fastest else ""))
        cols["cost_color"].append(COLORS["saving"] if r.cheapest else COLORS["final"])
        cols["days_color"].append(COLORS["saving"] if r.fastest else COLORS["baseline"])
    return cols


def training_figures(data: dict[str, list]):
    """Two horizontal bar charts (cost, time) sharing one source."""
    source = ColumnDataSource(data=data, name="training_bars")
    figs = []
    for col, label, fmt, title in (
        ("cost_usd", "cost_label", "$0.0a", "Training cost [$]"),
        ("days", "days_label", "0,0", "Training time [days]"),
    ):
        fig = figure(
            y_range=FactorRange(factors=list(reversed(data["name"]))),
            x_range=DataRange1d(start=0, range_padding=0.45),
            height=34 + 26 * len(data["name"]),
            sizing_mode="stretch_width",
            toolbar_location=None,
            tools="",
            title=title,
            min_border_left=8,
            min_border_right=8,
        )
        fig.hbar(y="name", right=col, height=0.7, source=source,
                 fill_color=col.replace("_usd", "") + "_color", line_color=None)
        fig.add_layout(LabelSet(x=col, y="name", text=label, source=source, x_offset=4,
                                text_baseline="middle", text_font_size="12px"))
        fig.ygrid.grid_line_color = None
        fig.xaxis.formatter = compact_formatter("$") if col == "cost_usd" else NumeralTickFormatter(format=fmt)
        fig.xaxis.major_label_text_font_size = "12px"
        fig.yaxis.major_label_text_font_size = "12px"
        fig.title.text_font_size = "13px"
        fig.xaxis.ticker.desired_num_ticks = 4
        fig.background_fill_color = None
        fig.border_fill_color = None
        fig.outline_line_color = None
        adapt(fig)
        figs.append(fig)
    return figs, source


# ---- training table --------------------------------------------------------
#: The table's columns, decision columns first: (field, title, formatter, width).
#: Every TrainingRow field is kept in the source; these are the ones shown.
TABLE_COLUMNS = (
    ("name", "Accelerator", "text", 196),
    ("cost_usd", "Cost", "cost_text", 74),
    ("days", "Days", "0,0.0", 58),
    ("usd_per_gpu_hour", "$/GPU-h ✎", "$0,0.00", 84),
    ("fastest", "Fastest", "tick", 64),
    ("cheapest", "Cheapest", "tick", 70),
    ("price_is_estimate", "Price est.", "tick", 70),
    ("energy_mwh", "Energy [MWh]", "0,0.0", 100),
    ("energy_is_estimate", "TDP est.", "tick", 64),
    ("gpu_hours", "GPU-hours", "0,0", 100),
    ("bf16_dense_TFLOPS", "BF16 TFLOP/s", "0,0", 100),
    ("tdp_W", "TDP [W]", "0,0", 70),
)
#: The one column a reader may edit.
EDITABLE = "usd_per_gpu_hour"


def table_data(rows) -> dict[str, list]:
    """Every TrainingRow field as a column, values exactly as the engine returns them."""
    fields = list(rows[0].__dataclass_fields__) if rows else [c[0] for c in TABLE_COLUMNS]
    data = {f: [getattr(r, f) for r in rows] for f in fields}
    data["cost_text"] = [money_short(r.cost_usd) for r in rows]
    return data


def training_table(data: dict[str, list]):
    """An editable Bokeh DataTable over ``data`` (only the price column is meant to change).

    Returns the table and its ColumnDataSource (named ``training_table``).
    Edits arrive as patches to the source; the caller validates them and
    writes the engine's recomputed rows back (reverting any other cell).
    """
    from bokeh.models import (
        DataTable,
        HTMLTemplateFormatter,
        NumberEditor,
        NumberFormatter,
        StringFormatter,
        TableColumn,
    )

    source = ColumnDataSource(data=data, name="training_table")
    cols = []
    for field, title, fmt, width in TABLE_COLUMNS:
        if fmt == "text":
            formatter = StringFormatter(font_style="bold")
        elif fmt == "cost_text":
            formatter = HTMLTemplateFormatter(template='<div style="text-align:right"><%- cost_text %></div>')
        elif fmt == "tick":
            tick = f'<%= {field} ? "✓" : "" %>'
            formatter = HTMLTemplateFormatter(template=f'<div style="text-align:center">{tick}</div>')
        else:
            formatter = NumberFormatter(format=fmt, text_align="right")
        kw = dict(editor=NumberEditor(step=0.05)) if field == EDITABLE else {}
        cols.append(TableColumn(field=field, title=title, formatter=formatter, width=width, **kw))
    table = DataTable(source=source, columns=cols, editable=True, index_position=None,
                      autosize_mode="none", sizing_mode="stretch_width",
                      height=30 + 28 * max(1, len(data.get("name", []))), row_height=28,
                      name="training_table_view", reorderable=False)
    # BokehJS redraws the grid only when the rows it shows change; new values
    # in the same rows (a recomputed cost) need this nudge.
    source.js_on_change("data", CustomJS(args=dict(view=table.view), code="view.change.emit()"))
    return table, source
