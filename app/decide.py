"""The "Decide" tab: API versus self-hosting, attribution, sensitivity, A versus B.

Every number shown comes from the engine (:mod:`levers.api`,
:mod:`levers.attribution`, :mod:`levers.sensitivity`, :mod:`levers.compare`);
this module lays the results out as Bokeh charts and HTML tables.

The tab watches the calculator's :class:`levers.Scenario` and recomputes only
while it is shown (``active``), so moving a slider elsewhere does not pay for
the API curve and the 16 attribution waterfalls.
"""

from __future__ import annotations

import logging
import math

import panel as pn
import param
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    Label,
    LabelSet,
    Legend,
    NumeralTickFormatter,
    Range1d,
    Span,
)
from bokeh.plotting import figure
from bokeh.transform import dodge

from app.charts import COLORS, SHORT, adapt, compact_formatter
from app.layout import flex
from app.render import esc, linkify
from levers import api, attribution, compare, sensitivity
from levers.errors import InputError
from levers.explain import money, sig, times
from levers.scenario import LEVER_TITLES, LEVERS, Scenario

log = logging.getLogger(__name__)

#: One colour per API provider line (readable on light and dark).
API_COLORS = ("#e76f51", "#8e6bbf", "#d4a017", "#3a86ff", "#ef476f", "#06a77d")

ATTRIBUTION_SENTENCE = (
    "The sequential waterfall credits what two levers save together to whichever comes later; the "
    "Shapley share averages each lever's saving over every order it could be pulled in, so the shares "
    "no longer depend on the order and still add up to the whole saving."
)


#: Tables of figures: compact, numbers right-aligned.
TABLE_STYLE = """
table.cl-table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; display: block; max-width: 100%;
  overflow-x: auto; }
table.cl-table th, table.cl-table td { padding: 3px 10px; border-bottom: 1px solid rgba(128,128,128,.25); }
table.cl-table th { text-align: right; font-weight: 600; }
table.cl-table td { text-align: right; font-variant-numeric: tabular-nums; }
table.cl-table td:first-child, table.cl-table th:first-child { text-align: left; }
.cl-small { font-size: 12px; opacity: .85; line-height: 1.4; }
"""


def _empty_source(*cols, name: str | None = None) -> ColumnDataSource:
    return ColumnDataSource(data={c: [] for c in cols}, name=name)


def _figure(x, sign: str = "") -> str:
    """A figure of a table: four significant figures (the engine's formatter), "-" for none."""
    return "-" if x is None else sig(x, 4, sign)


class Decide(pn.viewable.Viewer):
    """API break-even, Shapley attribution, the tornado and the A/B comparison.

    Parameters
    ----------
    scenario
        The calculator's scenario (scenario A); watched, never replaced.
    """

    b = param.Dict(default={}, doc="scenario B's overrides on top of A (typed values, no prefix)")
    active = param.Boolean(default=False, doc="whether the tab is shown (recompute only then)")
    embed = param.Boolean(default=False, doc="compact layout: the A/B comparison only")

    def __init__(self, scenario: Scenario, **params):
        super().__init__(**params)
        self.scenario = scenario
        self._stale = True
        self._typing = False
        self.api_result: dict | None = None
        self.attr_result: dict | None = None
        self.tornado_result: dict | None = None
        self.compare_result: dict | None = None
        # The charts and widgets are made when the tab is first shown (or embedded), so a
        # session that never opens the tab does not pay for them.
        self._built = False
        self.layout = pn.Column(sizing_mode="stretch_width", css_classes=["cl-decide"])
        scenario.param.watch(self._on_scenario, Scenario.keys())
        self.param.watch(self._on_b, "b")
        self.param.watch(self._on_active, "active")
        self.param.watch(self._on_embed, "embed")

    # ------------------------------------------------------------ build
    def _build(self) -> None:
        self.message = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["cl-decide-msg"])

        # API versus self-hosting
        self.api_fig = figure(height=340, sizing_mode="stretch_width", x_axis_type="log", y_axis_type="log",
                              x_axis_label="requests per day", y_axis_label="bill [$/day]",
                              toolbar_location=None, name="api_chart")
        self.api_fig.xaxis.formatter = compact_formatter()  # 10k, 1M, 100M
        self.api_fig.yaxis.formatter = NumeralTickFormatter(format="$0,0")
        self.api_fig.add_layout(Legend(location="top_left"), "center")
        self.fleet_src = _empty_source("x", "y", name="decide_fleet")
        self.api_fig.step("x", "y", source=self.fleet_src, mode="after", line_width=3,
                          color=COLORS["final"], legend_label="self-hosted (whole GPUs)")
        self.api_srcs: dict[str, ColumnDataSource] = {}
        self.be_src = _empty_source("x", "y", "label", "dy")
        self.api_fig.scatter("x", "y", source=self.be_src, size=11, marker="diamond", color="#8a929a",
                             legend_label="break-even")
        self.api_fig.add_layout(LabelSet(x="x", y="y", text="label", source=self.be_src, x_offset=8,
                                         y_offset="dy", text_font_size="12px"))
        self.now_span = Span(location=1e6, dimension="height", line_dash="dashed", line_color="#6b7a8f")
        self.api_fig.add_layout(self.now_span)
        self.now_label = Label(x=1e6, y=0, y_units="screen", x_offset=4, y_offset=4, text="your volume",
                               text_font_size="12px", text_color="#6b7a8f")
        self.api_fig.add_layout(self.now_label)
        self.api_table = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["cl-api-table"],
                                      stylesheets=[TABLE_STYLE])

        # Attribution
        self.attr_src = _empty_source("y", "value", "label_x", "label", "color", "what", name="decide_attribution")
        self.attr_fig = figure(height=300, sizing_mode="stretch_width", y_range=FactorRange(factors=[]),
                               x_axis_label="share of ln(baseline ÷ final)", toolbar_location=None,
                               name="attribution_chart")
        self.attr_fig.hbar(y="y", right="value", left=0, height=0.8, color="color", source=self.attr_src)
        self.attr_fig.x_range.range_padding = 0.3  # room right of the longest bar for its label
        self.attr_fig.yaxis.group_label_orientation = "horizontal"
        self.attr_fig.add_layout(LabelSet(x="label_x", y="y", text="label", source=self.attr_src, x_offset=4,
                                          y_offset=-6, text_font_size="12px"))
        self.attr_fig.add_tools(HoverTool(tooltips=[("", "@what"), ("share", "@value{0.000}")]))
        self.attr_text = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[TABLE_STYLE])
        titles = {LEVER_TITLES[lv]: lv for lv in LEVERS}
        # No fixed widths: Bokeh would give every ancestor their sum as its
        # minimum width, and the page would scroll sideways at 360 px.
        self.order_w = [pn.widgets.Select(label=f"{i + 1}.", options=titles, value=lv, sizing_mode="stretch_width",
                                          min_width=0, max_width=200, styles={"flex": "1 1 140px"},
                                          css_classes=[f"ctl-order-{i + 1}"])
                        for i, lv in enumerate(self.scenario.order)]
        for i, w in enumerate(self.order_w):
            w.param.watch(lambda e, i=i: self._reorder(i, e.new), "value")
        self.order_row = pn.Column(
            pn.pane.HTML("<b>Pull the levers in this order</b> (the waterfall on the first tab follows):",
                         margin=(0, 5)),
            flex(*self.order_w, sizing_mode="stretch_width"), sizing_mode="stretch_width")

        # Tornado
        self.tornado_src = _empty_source("y", "base", "low_metric", "high_metric", "low", "high", "range",
                                         name="decide_tornado")
        self.tornado_fig = figure(height=360, sizing_mode="stretch_width", y_range=FactorRange(factors=[]),
                                  x_axis_label="$/1M output tokens", toolbar_location=None,
                                  name="tornado_chart")
        # Each end its own half-row, so neither hides the other when both move the same way.
        self.tornado_fig.hbar(y=dodge("y", 0.17, range=self.tornado_fig.y_range), left="base", right="low_metric",
                              height=0.34, color=COLORS["saving"], source=self.tornado_src,
                              legend_label="input at the low end of its range")
        self.tornado_fig.hbar(y=dodge("y", -0.17, range=self.tornado_fig.y_range), left="base",
                              right="high_metric", height=0.34, color=COLORS["rise"], source=self.tornado_src,
                              legend_label="input at the high end")
        # Below the plot, not over the bars: at 360 px the legend covered the lowest rows.
        legend = self.tornado_fig.legend[0]
        self.tornado_fig.center.remove(legend)
        self.tornado_fig.add_layout(legend, "below")
        self.tornado_fig.xaxis.formatter = NumeralTickFormatter(format="$0,0.00")
        self.tornado_fig.xaxis.ticker.desired_num_ticks = 3  # tick labels apart at 360 px
        self.tornado_fig.add_tools(HoverTool(tooltips=[("moved", "@range"), ("low end", "@low"),
                                                       ("high end", "@high")]))
        self.base_span = Span(location=0, dimension="height", line_color="#8a929a", line_width=2)
        self.tornado_fig.add_layout(self.base_span)
        self.tornado_text = pn.pane.HTML("", sizing_mode="stretch_width")

        # A versus B
        self.b_input = pn.widgets.TextInput(
            label="Scenario B: what changes (key=value, comma-separated)",
            placeholder="hardware=mi355x, weights=fp4", sizing_mode="stretch_width",
            css_classes=["ctl-b-changes"])
        self.b_input.param.watch(self._b_typed, "value")
        self.b_notice = pn.pane.HTML("", sizing_mode="stretch_width")
        self.cmp_src = _empty_source("x", "cost", "label", name="decide_compare")
        self.cmp_fig = figure(height=300, sizing_mode="stretch_width", x_range=FactorRange(factors=[]),
                              y_axis_label="cost after the step [$/day], log scale", y_axis_type="log",
                              toolbar_location=None, name="compare_chart")
        self.cmp_fig.y_range = Range1d(0.5, 1e6)  # the top is set with the data: room for upright labels
        # Bars rise from $1/day: on a log axis the later, smaller steps stay readable.
        self.cmp_fig.vbar(x="x", top="cost", bottom=1, width=0.85, source=self.cmp_src, color="color")
        # Upright labels: side by side they overlapped their neighbours at 360 px.
        self.cmp_fig.add_layout(LabelSet(x="x", y="cost", text="label", source=self.cmp_src, y_offset=4,
                                         angle=math.pi / 2, text_align="left", text_baseline="middle",
                                         text_font_size="12px"))
        self.cmp_src.data["color"] = []
        self.cmp_fig.yaxis.formatter = NumeralTickFormatter(format="$0,0")
        self.cmp_fig.add_tools(HoverTool(tooltips=[("", "@x"), ("cost", "@label")]))
        self.cmp_table = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["cl-compare-table"],
                                      stylesheets=[TABLE_STYLE])

        def section(title, *objs):
            return pn.Column(pn.pane.HTML(f"<h3>{esc(title)}</h3>", margin=(0, 5)), *objs,
                             sizing_mode="stretch_width")

        self.api_section = section("Hosted API or your own GPUs?", self.api_fig, self.api_table)
        self.attr_section = section("Which lever saved what, whatever the order", self.attr_text, self.order_row,
                                    self.attr_fig)
        self.tornado_section = section("Which assumption matters most", self.tornado_text, self.tornado_fig)
        self.compare_section = section("Scenario A against scenario B", self.b_input, self.b_notice,
                                       self.cmp_table, self.cmp_fig)
        for fig in (self.api_fig, self.attr_fig, self.tornado_fig, self.cmp_fig):
            for axis in (*fig.xaxis, *fig.yaxis):
                axis.major_label_text_font_size = "12px"  # no text under 12 px
            # the page's background shows through; text and grid follow the theme
            fig.background_fill_color = fig.border_fill_color = None
            fig.outline_line_color = None
            adapt(fig)
        self.layout.objects = [self.message, self.compare_section, self.api_section, self.attr_section,
                               self.tornado_section]
        self._built = True
        self._sync_b_input()

    def __panel__(self):
        return self.layout

    # ------------------------------------------------------------ changes
    def _reorder(self, position: int, lever: str) -> None:
        """Put ``lever`` at ``position``; the lever that was there takes its old place."""
        order = list(self.scenario.order)
        if order[position] == lever:
            return
        j = order.index(lever)
        order[j], order[position] = order[position], lever
        self.scenario.order = order

    def _on_scenario(self, *events) -> None:
        for e in events:
            if e.name == "order" and self._built:
                for w, lv in zip(self.order_w, e.new, strict=True):
                    w.value = lv
        self._stale = True
        if self.active:
            self.refresh()

    def _on_active(self, event) -> None:
        if event.new and self._stale:
            self.refresh()

    def _on_embed(self, event) -> None:
        self._stale = True
        if self.active or self.embed:
            self.refresh()

    def _sync_b_input(self) -> None:
        text = ", ".join(f"{k}={v}" for k, v in self.b.items())
        if self.b_input.value != text and not self._typing:
            self.b_input.value = text

    def _on_b(self, event) -> None:
        if self._built:
            self._sync_b_input()
        self._stale = True
        if self.active or self.embed:
            self.refresh()

    def _b_typed(self, event) -> None:
        """Parse B's changes with the engine; keep the ones it accepts."""
        raw = {}
        for part in (event.new or "").split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            raw[key.strip()] = value.strip() if sep else ""
        good, notices = compare.b_overrides(self.scenario, raw)
        self.b_notice.object = "".join(
            f'<div class="cl-notice">{esc(k)}: {esc(m)}</div>' for k, m in notices)
        self._typing = True
        try:
            self.b = good
        finally:
            self._typing = False

    # ------------------------------------------------------------ compute
    def refresh(self) -> None:
        """Run the engine for all four views and redraw them; a view the engine refuses says why."""
        if not self._built:
            self._build()
        self._stale = False
        s = self.scenario
        problems = []
        views = [("compare", lambda: compare.compare(s, compare.scenario_b(s, self.b)), self._show_compare)]
        if not self.embed:
            views += [("api", lambda: api.comparison(s), self._show_api),
                      ("attr", lambda: attribution.attribution(s), self._show_attribution),
                      ("tornado", lambda: sensitivity.sensitivity(s), self._show_tornado)]
        for name, compute, show in views:
            try:
                setattr(self, f"{name}_result", compute())
            except InputError as e:
                problems.append(f"{esc(e.field)}: {esc(e.message)}")
                continue
            except Exception as e:  # an engine failure must not blank the tab
                log.exception("decide view %s failed", name)
                problems.append(f"could not compute this view ({esc(type(e).__name__)})")
                continue
            show()
        self.message.object = "".join(f'<div class="cl-notice">{p}</div>' for p in problems)
        self.api_section.visible = self.attr_section.visible = self.tornado_section.visible = not self.embed

    # ------------------------------------------------------------ views
    def _show_api(self) -> None:
        c = self.api_result
        curve = c["curve"]
        self.fleet_src.data = {"x": curve["volumes"], "y": curve["self_hosted"]}
        for i, r in enumerate(c["rows"]):
            pid = r["provider"]
            if pid not in self.api_srcs:
                src = _empty_source("x", "y")
                self.api_srcs[pid] = src
                self.api_fig.line("x", "y", source=src, line_width=2, color=API_COLORS[i % len(API_COLORS)],
                                  legend_label=r["provider_name"], name=f"api_{pid}")
            self.api_srcs[pid].data = {"x": curve["volumes"], "y": curve["api"][pid]}
        for pid, src in self.api_srcs.items():
            if pid not in curve["api"]:
                src.data = {"x": [], "y": []}
        be = [r for r in c["rows"] if r["break_even_requests_per_day"] is not None]
        self.be_src.data = {"x": [r["break_even_requests_per_day"] for r in be],
                            "y": [r["break_even_usd_per_day"] for r in be],
                            "label": [f"{r['provider_name']}: {r['break_even_requests_per_day']:,.0f}/day" for r in be],
                            "dy": [-16 - 14 * i for i in range(len(be))]}
        self.now_span.location = self.now_label.x = c["requests_per_day"]
        self.api_table.object = api_table_html(c)

    def _show_attribution(self) -> None:
        a = self.attr_result
        ys, vals, labels, colors, what = [], [], [], [], []
        for lv in reversed(a["order"]):
            for kind, value, factor, color in (
                    ("Shapley", a["attribution"][lv], a["factor"][lv], COLORS["saving"]),
                    ("sequential", a["sequential"][lv], a["sequential_factor"][lv], COLORS["baseline"])):
                ys.append((SHORT[lv], kind))
                vals.append(value)
                labels.append(times(factor))
                colors.append(color)
                what.append(f"{LEVER_TITLES[lv]}, {kind}")
        self.attr_fig.y_range.factors = ys
        # A lever that costs more has its bar left of zero; its label goes right of zero.
        self.attr_src.data = {"y": ys, "value": vals, "label_x": [v if v > 0 else 0.0 for v in vals],
                              "label": labels, "color": colors, "what": what}
        self.attr_text.object = (
            f"<p>{esc(ATTRIBUTION_SENTENCE)}</p><p class=\"cl-small\">Grey: each lever's bar in the "
            f"waterfall, in its order; green: its Shapley share. Both sum to ln(baseline ÷ final) = "
            f"{a['total']:.3f}; labels are the factors.</p>")

    def _show_tornado(self) -> None:
        t = self.tornado_result
        rows = list(reversed(t["rows"]))  # widest at the top
        ys = [r["label"] for r in rows]
        self.tornado_fig.y_range.factors = ys
        base = t["base"]
        self.tornado_src.data = {
            "y": ys, "base": [base] * len(rows),
            "low_metric": [base if r["low"] is None else r["low"] for r in rows],
            "high_metric": [base if r["high"] is None else r["high"] for r in rows],
            "low": [sig(r["low"], 4) if r["low"] is not None else "refused" for r in rows],
            "high": [sig(r["high"], 4) if r["high"] is not None else "refused" for r in rows],
            "range": [r["range"] for r in rows]}
        self.base_span.location = t["base"]
        top = t["rows"][0]
        self.tornado_text.object = (
            f"<p>Each input moved alone over the stated range; the bar spans the {esc(t['label'])} it "
            f"gives (now ${t['base']:.4f}, the black line). Widest: <b>{esc(top['label'])}</b> "
            f"({esc(top['range'])}).</p>")

    def _show_compare(self) -> None:
        c = self.compare_result
        xs, costs, labels, colors = [], [], [], []
        for tag, color in (("a", COLORS["baseline"]), ("b", COLORS["final"])):
            for st in c["waterfalls"][tag]["steps"]:
                xs.append((SHORT[st["lever"]], tag.upper()))
                costs.append(st["cost_per_day"])
                labels.append(money(st["cost_per_day"]))
                colors.append(color)
        order = [SHORT[st["lever"]] for st in c["waterfalls"]["a"]["steps"]]
        xs_sorted = sorted(range(len(xs)), key=lambda i: (order.index(xs[i][0]), xs[i][1]))
        self.cmp_fig.x_range.factors = [xs[i] for i in xs_sorted]
        # 1.7 decades above the tallest bar: its upright label (~55 px) stays inside the frame.
        self.cmp_fig.y_range.end = max(costs, default=1.0) * 50
        self.cmp_src.data = {"x": [xs[i] for i in xs_sorted], "cost": [costs[i] for i in xs_sorted],
                             "label": [labels[i] for i in xs_sorted], "color": [colors[i] for i in xs_sorted]}
        self.cmp_table.object = compare_table_html(c)


def api_table_html(c: dict) -> str:
    """The API rows next to the self-hosted bill, with each row's source."""
    if not c["rows"]:
        return f"<p>{esc(c['message'])}</p>"
    sh = c["self_hosted"]
    head = ("<tr><th>who</th><th>$/1M in</th><th>$/1M cached in</th><th>$/1M out</th>"
            "<th>blended, 3:1 in:out</th><th>$/day</th><th>break-even [requests/day]</th></tr>")
    body = [f"<tr><td>self-hosted: {sh['gpus']} × {esc(sh['hardware'])}</td>"
            f"<td>${sh['usd_per_1m_input']:.3f}</td><td>${sh['usd_per_1m_cached_input']:.3f}</td>"
            f"<td>${sh['usd_per_1m_output']:.3f}</td><td>${sh['blended_usd_per_1m']:.3f}</td>"
            f"<td>{money(sh['usd_per_day'])}</td><td></td></tr>"]
    for r in c["rows"]:
        be = r["break_even_requests_per_day"]
        cached = "-" if r["usd_per_1m_cached_input"] is None else f"${r['usd_per_1m_cached_input']:.3f}"
        star = "*" if c["routing_on"] and not r["small_model_priced"] else ""
        body.append(
            f"<tr><td>{esc(r['provider_name'])}{star}</td><td>${r['usd_per_1m_input']:.3f}</td><td>{cached}</td>"
            f"<td>${r['usd_per_1m_output']:.3f}</td><td>${r['blended_usd_per_1m']:.3f}</td>"
            f"<td>{money(r['usd_per_day'])}</td>"
            f"<td title=\"{esc(r['verdict'])}\">{'none in range' if be is None else f'{be:,.0f}'}</td></tr>")
    notes = [f"{esc(c['model'])} at {c['requests_per_day']:,.0f} requests/day; {esc(c['blend'])}."]
    if c["routing_on"] and any(not r["small_model_priced"] for r in c["rows"]):
        notes.append("* no price on file for the small model there: every request is priced on the large model.")
    if c.get("note"):
        notes.append(esc(c["note"]))
    notes += [f"{esc(r['provider_name'])}: {linkify(r['source'])} (as of {esc(r['as_of'])})" for r in c["rows"]]
    return (f'<table class="cl-table">{head}{"".join(body)}</table>'
            + "".join(f'<div class="cl-small">{n}</div>' for n in notes))


def compare_table_html(c: dict) -> str:
    """Headline figures of A and B, their difference and ratio."""
    changes = ", ".join(f"{esc(k)}={esc(v)}" for k, v in c["b_changes"].items()) or "nothing yet"
    rows = []
    for key, (label, unit) in c["labels"].items():
        ratio = c["ratio"][key]
        rows.append(f"<tr><td>{esc(label)} [{esc(unit)}]</td><td>{_figure(c['a'][key])}</td>"
                    f"<td>{_figure(c['b'][key])}</td><td>{_figure(c['difference'][key], sign='+')}</td>"
                    f"<td>{'-' if ratio is None else f'{ratio:.3g}×'}</td></tr>")
    return (f"<p>B is A with: <b>{changes}</b></p><table class=\"cl-table\"><tr><th>figure</th><th>A</th>"
            f"<th>B</th><th>B − A</th><th>B ÷ A</th></tr>{''.join(rows)}</table>")
