"""Cost Levers: the calculator UI.

Serve with ``panel serve app/main.py`` (from the repository root, with the
package installed: ``pip install -e '.[app]'``); ``build.py`` compiles this
file unchanged for Pyodide. Importing the module builds nothing: the app is
created only when served.

All numbers come from :mod:`levers`; this module lays out widgets, wires them
to a :class:`levers.Scenario` and formats the engine's results.
"""

from __future__ import annotations

import io
import logging

import panel as pn
import param

import levers
from app import exports, render
from app.charts import (
    EDITABLE,
    compact_formatter,
    latency_strip,
    set_yaxis,
    table_data,
    training_data,
    training_figures,
    training_table,
    waterfall_data,
    waterfall_figure,
)
from app.decide import Decide
from app.layout import flex
from app.theme import TABLE_CSS, TABS_CSS, AppNative, AutoNative, body_css
from app.urlstate import (
    VIEW_DEFAULTS,
    Notice,
    base_scenario,
    build_query,
    describe_failure,
    parse_query,
    requested_theme,
    training_defaults,
    with_embed,
    without_embed,
)
from levers import presets, specs
from levers.errors import InputError
from levers.params import allowed, parse_value
from levers.registry import REGISTRY
from levers.scenario import LEVER_TITLES, LEVERS, Scenario
from levers.training import TrainingInputs

log = logging.getLogger(__name__)

pn.extension(notifications=False)

TITLE = "Cost Levers"
#: The lever switch's text, on and off (the whole button toggles).
LEVER_ON = {True: "✓ Lever on", False: "Lever off: click to turn on"}

#: How each input is shown. Soft ranges are the slider's initial span; the
#: engine's bounds (read from the declarations) stay the hard limits.
CONTROLS: dict[str, dict] = {
    "requests_per_day": dict(kind="input", fmt="0,0", label="Requests per day"),
    "system_prompt_tokens": dict(kind="editable", soft=(0, 16_000), step=100, label="System prompt"),
    "user_tokens": dict(kind="editable", soft=(0, 16_000), step=100, label="User turn"),
    "output_tokens": dict(kind="editable", soft=(1, 2000), step=10, label="Output tokens"),
    "peak_to_average": dict(kind="editable", soft=(1, 5), label="Peak-to-average load"),
    "utilization": dict(kind="slider", pct=True, label="Utilization at peak"),
    "big_model": dict(kind="select", label="Large model"),
    "big_params_B": dict(kind="input", label="Large model size"),
    "small_model": dict(kind="select", label="Small model"),
    "small_params_B": dict(kind="input", label="Small model size"),
    "baseline_hardware": dict(kind="select", label="Baseline accelerator"),
    "baseline_cost_per_day": dict(kind="input", label="Baseline bill (illustrative)"),
    "cache_hit_rate": dict(kind="slider", pct=True, label="Cache hit rate"),
    "batching": dict(kind="radio", label="Batching"),
    "static_longest_over_mean": dict(kind="editable", soft=(1, 4), label="Static batch: longest / mean reply"),
    "route_share": dict(kind="slider", pct=True, label="Share to the small model"),
    "route_policy": dict(kind="radio", label="Routing policy"),
    "weights": dict(kind="radio", label="Weights"),
    "kv_cache": dict(kind="radio", label="KV cache"),
    "hardware": dict(kind="select", label="Accelerator"),
    "consolidate": dict(kind="check", label="Consolidate both models on one GPU pool"),
    "usd_per_gpu_hour": dict(kind="input", label="Price override"),
    "baseline_usd_per_gpu_hour": dict(kind="input", label="Baseline price override"),
    "mfu": dict(kind="slider", pct=True, label="Engine MFU (prefill)"),
    "mbu": dict(kind="slider", pct=True, label="Engine MBU (decode)"),
    "memory_utilization": dict(kind="slider", pct=True, label="Memory utilization"),
    "max_batch": dict(kind="editable", soft=(1, 1024), step=1, label="Max batch"),
    "sizing": dict(kind="radio", label="Price fleets at"),
    "min_replicas": dict(kind="input", label="Fewest replicas per model"),
    "ttft_slo_low_ms": dict(kind="input", label="TTFT band low"),
    "ttft_slo_high_ms": dict(kind="input", label="TTFT band high"),
    "tpot_slo_low_ms": dict(kind="input", label="TPOT band low"),
    "tpot_slo_high_ms": dict(kind="input", label="TPOT band high"),
    **{f"mult_{lv}": dict(kind="editable", soft=(1, 5), label="Multiplier (illustrative, ÷)")
       for lv in LEVERS},
}

#: Each lever card's own controls, in the lesson's order.
LEVER_CONTROLS = {m.ID: list(m.INPUTS) for m in REGISTRY}
MODELS = ["big_model", "big_params_B", "small_model", "small_params_B", "baseline_hardware"]
TRAIN_CONTROLS = {
    "params": dict(kind="editable", soft=(1e9, 1e12), step=1e9, fmt="compact", label="Model parameters N"),
    "tokens": dict(kind="editable", soft=(1e11, 3e13), step=1e11, fmt="compact", label="Training tokens D"),
    "mfu": dict(kind="slider", pct=True, label="Training MFU"),
    "gpus": dict(kind="editable", soft=(8, 16_384), step=8, label="Accelerators G"),
}
TABS = ("serving", "hardware", "formulas", "decide")

#: Save the waterfall as PNG: BokehJS draws the figure's view into one canvas.
PNG_JS = """
const find = (v) => { if (v.model === fig) return v;
  for (const c of (v.child_views || [])) { const f = find(c); if (f) return f; } return null; };
let view = null;
for (const r of Bokeh.index) { view = find(r); if (view) break; }
if (view == null) { return; }
view.export('png').to_blob().then((blob) => {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob); a.download = 'waterfall.png';
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
});
"""

COPY_LINK_JS = """
const u = new URL(window.location.href);
u.searchParams.delete('embed');
const text = u.toString();
const done = () => { btn.label = 'Link copied'; setTimeout(() => { btn.label = 'Copy share link'; }, 1500); };
if (navigator.clipboard && window.isSecureContext) {
  navigator.clipboard.writeText(text).then(done, () => {});
}
"""

THEME_JS = """
const u = new URL(window.location.href);
const current = u.searchParams.get('theme') || 'auto';
if (current === cb_obj.value || (current === 'default' && cb_obj.value === 'light')) { return; }
if (cb_obj.value === 'auto') { u.searchParams.delete('theme'); } else { u.searchParams.set('theme', cb_obj.value); }
window.location.assign(u.toString());
"""


def _label(key: str, p, spec: dict) -> str:
    text = spec.get("label") or key.replace("_", " ").capitalize()
    unit = getattr(p, "unit", "")
    if unit and not spec.get("pct") and unit not in ("x",):
        text += f" [{unit}]"
    return text


def make_widget(key: str, p, value, spec: dict):
    """A widget for parameter ``p`` (engine declaration), labelled and bounded."""
    kind = spec.get("kind") or ("radio" if isinstance(p, param.Selector) else
                                "check" if isinstance(p, param.Boolean) else "input")
    label = _label(key, p, spec)
    lo, hi = p.bounds if getattr(p, "bounds", None) else (None, None)
    doc = (p.doc or "").strip()
    common = dict(label=label, sizing_mode="stretch_width", css_classes=[f"ctl-{key}"])
    is_int = isinstance(p, param.Integer)
    if kind == "select":
        options = list(p.catalog()) if hasattr(p, "catalog") and p.catalog else list(p.objects)
        return _new(pn.widgets.Select, doc, value=value, options=options, **common)
    if kind == "radio":
        return _new(pn.widgets.RadioButtonGroup, doc, value=value, options=list(p.objects),
                    color="primary", variant="outline", **common)
    if kind == "check":
        return _new(pn.widgets.Checkbox, doc, value=value, **common)
    step = spec.get("step") or getattr(p, "step", None) or (1 if is_int else 0.01)
    if kind == "slider":
        cls = pn.widgets.IntSlider if is_int else pn.widgets.FloatSlider
        kw = dict(format="0%") if spec.get("pct") else {}
        return _new(cls, doc, value=value, start=lo, end=hi, step=step, **kw, **common)
    if kind == "editable":
        s_lo, s_hi = spec.get("soft", (lo, hi))
        cls = pn.widgets.EditableIntSlider if is_int else pn.widgets.EditableFloatSlider
        fmt = spec.get("fmt")
        kw = dict(format=compact_formatter() if fmt == "compact" else fmt) if fmt else {}
        return _new(cls, doc, value=value, start=min(s_lo, value), end=max(s_hi, value), step=step,
                    **kw, **common)
    cls = pn.widgets.IntInput if is_int else pn.widgets.FloatInput
    kw = dict(format=spec["fmt"]) if spec.get("fmt") else {}
    # No start/end: the browser would clamp a typed value silently; the engine's
    # declaration checks it instead and the field says why it was refused.
    return _new(cls, doc, value=value, step=step, **kw, **common)


def _new(cls, doc: str, **kw):
    """``cls(**kw)``, with ``doc`` as the hover description where the widget has one."""
    if doc and "description" in cls.param:
        kw["description"] = doc
    return cls(**kw)


def labelled(w):
    """``w`` with a visible label above it (button groups show none of their own)."""
    if isinstance(w, pn.widgets.RadioButtonGroup):
        return pn.Column(pn.pane.HTML(f'<label class="cl-label">{render.esc(w.label)}</label>',
                                      margin=(5, 10, 0, 10)),
                         w, sizing_mode="stretch_width", margin=0)
    return w


def same_as_defaults() -> str:
    """The preset whose scenario is the engine's defaults ('' if none is): the
    preset list shows it once instead of also offering "Engine defaults"."""
    defaults = Scenario().values()
    return next((n for n in presets.names() if levers.load_preset(n).values() == defaults), "")


def disclosure(title: str, *objs, css: str = "") -> pn.Column:
    """A section shown and hidden by a toggle button above it.

    Used instead of a collapsed ``pn.Card``: a card that starts collapsed in
    the same document as a Bokeh ``DataTable`` stops the table from rendering
    (BokehJS lays the table out before it has built its grid).
    """
    toggle = pn.widgets.Toggle(label=f"▸ {title}", value=False, color="light",
                               css_classes=[f"{css}-toggle"] if css else [], align="start")
    toggle.param.watch(lambda e: setattr(toggle, "label", ("▾ " if e.new else "▸ ") + title), "value")
    body = pn.Column(*objs, visible=toggle.param.value, sizing_mode="stretch_width", margin=0)
    return pn.Column(toggle, body, sizing_mode="stretch_width", margin=(5, 5),
                     css_classes=[css] if css else [])


def field_error(key: str) -> pn.pane.HTML:
    """The hidden line under a field that says why a typed value was refused."""
    return pn.pane.HTML("", visible=False, sizing_mode="stretch_width", margin=(0, 10, 4, 10),
                        css_classes=[f"err-{key}"])


def refuse(pane, p, value) -> None:
    """Show in ``pane`` why ``value`` is not allowed for parameter ``p`` (its declared range)."""
    shown = "an empty value" if value is None else repr(value) if isinstance(value, str) else f"{value:g}" \
        if isinstance(value, float) else str(value)
    pane.object = (f'<div class="cl-fielderr" role="alert">{render.esc(shown)} is not allowed: '
                   f"enter {render.esc(allowed(p))}. The previous value is kept.</div>")
    pane.visible = True


def set_widget(w, value) -> None:
    """Show ``value`` in ``w``, widening an editable slider's span if needed."""
    if isinstance(w, pn.widgets.EditableFloatSlider | pn.widgets.EditableIntSlider):
        if value < w.start:
            w.start = value
        if value > w.end:
            w.end = value
    w.value = value


class Calculator(pn.viewable.Viewer):
    """The whole calculator: one scenario, its widgets, charts and URL state.

    Parameters
    ----------
    search
        The URL query to start from (``"?preset=lesson&..."``); read from
        ``location`` when not given.
    location
        ``pn.state.location`` when served: its ``search`` is written with the
        non-default keys on every change, and read when it changes from
        outside (Pyodide syncs it after the first render).
    """

    preset = param.String(default="", doc="preset the scenario started from ('' = engine defaults)")
    yaxis = param.Selector(default=VIEW_DEFAULTS["yaxis"],
                           objects=["usd_per_day", "usd_per_1m_tokens", "usd_per_task"])
    embed = param.Boolean(default=False)
    theme = param.Selector(default="auto", objects=["auto", "light", "dark"])
    tab = param.Selector(default="serving", objects=list(TABS))
    formula_step = param.Selector(default="hardware", objects=["baseline", *LEVERS])
    query = param.String(default="", doc="the URL query for the current state")
    url_notices = param.List(default=[], doc="keys the URL asked for that were not applied")
    error_notices = param.List(default=[], doc="changes the engine refused (reverted)")

    def __init__(self, search: str | None = None, location=None, **params):
        super().__init__(**params)
        self._location = location
        self.scenario = Scenario()
        self.training = TrainingInputs()
        self.prices: dict[str, float] = {}
        self.wf = levers.waterfall(self.scenario)
        self.rows = levers.training_table(**training_defaults())
        self._last_good = self.scenario.values()
        self._applying = False
        self._build()
        if search is None:
            search = location.search if location is not None else ""
        self.apply_query(search)
        if location is not None:
            location.param.watch(self._on_location, "search")

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        s = self.scenario
        self.widgets: dict[str, pn.widgets.Widget] = {}
        keys = Scenario.keys()
        for key in keys:
            if key in ("mode", "off", "order"):  # order: set in the Decide tab
                continue
            p = Scenario.param[key]
            w = make_widget(key, p, getattr(s, key), CONTROLS.get(key, {}))
            w.param.watch(lambda e, k=key: self._widget_changed(k, e), "value")
            self.widgets[key] = w
        self.field_errors = {k: field_error(k) for k in self.widgets}
        self.views = {k: pn.Column(labelled(w), self.field_errors[k], sizing_mode="stretch_width", margin=0)
                      for k, w in self.widgets.items()}
        self.mode_w = pn.widgets.RadioButtonGroup(
            label="Mode", options={"Illustrative": "illustrative", "Modeled": "modeled"},
            value=s.mode, color="primary", variant="outline", css_classes=["ctl-mode"],
            description=Scenario.param.mode.doc, sizing_mode="stretch_width")
        self.mode_w.param.watch(lambda e: self._widget_changed("mode", e), "value")
        self.on_w = {}
        for lv in LEVERS:
            on = lv not in s.off
            w = pn.widgets.Toggle(label=LEVER_ON[on], value=on, color="primary", variant="outline",
                                  css_classes=[f"ctl-on-{lv}"], align="start")
            w.param.watch(lambda e, lv=lv: self._toggle_lever(lv, e.new), "value")
            w.param.watch(lambda e, w=w: setattr(w, "label", LEVER_ON[e.new]), "value")
            self.on_w[lv] = w
        self.scenario.param.watch(self._on_scenario, Scenario.keys())

        # ---- header
        self.default_preset = same_as_defaults()
        options = {} if self.default_preset else {"Engine defaults": ""}
        options.update({name: name for name in presets.names()})
        self.preset_w = pn.widgets.Select(
            label="Preset", options=options, value=self.default_preset or "", width=190,
            css_classes=["ctl-preset"],
            description="\n".join(f"{n}: {presets.describe(n)}" for n in presets.names()))
        self.preset_w.param.watch(self._preset_selected, "value")
        self.preset_desc = pn.pane.HTML("", sizing_mode="stretch_width",
                                        margin=(0, 10))
        self.share_b = pn.widgets.Button(label="Copy share link", color="primary",
                                         css_classes=["ctl-share"], align="end")
        self.share_b.js_on_click(args={"btn": self.share_b}, code=COPY_LINK_JS)
        self.share_b.on_click(lambda e: self._show_share(snippet=False))
        self.embed_b = pn.widgets.Button(label="Embed", css_classes=["ctl-embed"], align="end")
        self.embed_b.on_click(lambda e: self._show_share(snippet=True))
        self.reset_b = pn.widgets.Button(label="Reset", css_classes=["ctl-reset"], align="end")
        self.reset_b.on_click(lambda e: self.reset())
        self.theme_w = pn.widgets.Select(label="Theme", options={"Auto": "auto", "Light": "light",
                                                                 "Dark": "dark"},
                                         value="auto", width=100, css_classes=["ctl-theme"])
        self.theme_w.jscallback(value=THEME_JS)
        self.title = pn.pane.HTML(
            f'<div class="cl-title">{render.esc(TITLE)}</div>'
            '<div class="cl-sub">Five levers on the cost of serving an LLM, from the baseline bill '
            "to the final one.</div>",
            margin=(8, 10), sizing_mode="stretch_width", min_width=0)
        self.share_box = pn.pane.HTML("", visible=False,
                                      sizing_mode="stretch_width", css_classes=["cl-sharebox"])
        self.notice = pn.pane.HTML("", visible=False,
                                   sizing_mode="stretch_width", css_classes=["cl-notices"])
        self.dismiss_b = pn.widgets.Button(label="Dismiss", visible=False, css_classes=["ctl-dismiss"],
                                           variant="outline", width=90)
        self.dismiss_b.on_click(lambda e: self._dismiss())
        mode_box = pn.Column(labelled(self.mode_w), width=220, margin=0)
        header = flex(
            self.title,
            flex(self.preset_w, mode_box, self.theme_w, align_items="flex-end",
                       sizing_mode="stretch_width", margin=0),
            flex(self.share_b, self.embed_b, self.reset_b, sizing_mode="stretch_width",
                       margin=0),
            sizing_mode="stretch_width", css_classes=["cl-header"],
        )
        self.header = header

        # ---- serving tab
        self.headline = pn.pane.HTML("", sizing_mode="stretch_width",
                                     css_classes=["cl-headline"])
        self.fig, self.source = waterfall_figure(waterfall_data(self.wf, self.yaxis), self.yaxis)
        self.chart = pn.pane.Bokeh(self.fig, sizing_mode="stretch_width", height=300)
        self.strip = pn.pane.Bokeh(latency_strip(self.fig, self.source), sizing_mode="stretch_width",
                                   height=96)
        self.yaxis_w = pn.widgets.RadioButtonGroup.from_param(
            self.param.yaxis, label="Y axis", options={"$/day": "usd_per_day", "$/1M tokens": "usd_per_1m_tokens",
                                          "$/task": "usd_per_task"},
            color="primary", variant="outline", css_classes=["ctl-yaxis"])
        self.classes = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["cl-classes-pane"])
        step_options = {("Baseline" if k == "baseline" else LEVER_TITLES[k]): k for k in ["baseline", *LEVERS]}
        self.capacity_step_w = pn.widgets.Select.from_param(
            self.param.formula_step, label="Step", options=step_options, width=200,
            css_classes=["ctl-capacity-step"])
        self.capacity = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["cl-capacity-pane"])
        self.summaries = {lv: pn.pane.HTML("", sizing_mode="stretch_width",
                                           css_classes=[f"cl-summary-{lv}"], margin=(5, 10))
                          for lv in LEVERS}

        def card(title, *objs, css="", basis="230px"):
            return pn.Card(*objs, title=title, sizing_mode="stretch_width",
                           styles={"flex": f"1 1 {basis}"}, min_width=0, margin=(5, 5),
                           css_classes=[css] if css else [])

        def group(title, keys, *extra):
            head = pn.pane.HTML(f'<div class="cl-group">{render.esc(title)}</div>',
                                margin=(6, 10, 0, 10), sizing_mode="stretch_width")
            return pn.Column(head, *extra, *(W[k] for k in keys), sizing_mode="stretch_width",
                             styles={"flex": "1 1 260px"}, min_width=0, margin=0)

        def groups(*cols):
            return flex(*cols, sizing_mode="stretch_width", margin=0, gap="0 12px")

        W = self.views
        self.lever_cards = {}
        for i, lv in enumerate(LEVERS, 1):
            self.lever_cards[lv] = card(
                f"{i}. {LEVER_TITLES[lv]}", self.summaries[lv], self.on_w[lv],
                W[f"mult_{lv}"], *(W[k] for k in LEVER_CONTROLS[lv]), css=f"cl-card-{lv}")
        self.illustrative_note = pn.pane.HTML(
            '<div class="cl-expl">Illustrative mode: each lever divides the bill by its hand-set '
            "multiplier; the controls still size the GPUs, latency and energy.</div>",
            sizing_mode="stretch_width")
        workload = card("Workload", self.illustrative_note, groups(
            group("Traffic", ["requests_per_day", "peak_to_average"], W["baseline_cost_per_day"]),
            group("Prompt and reply", ["system_prompt_tokens", "user_tokens", "output_tokens"]),
            group("Task", ["task_shape", "thinking_multiple", "agent_turns", "observation_tokens"]),
            group("Models and baseline fleet", MODELS),
        ), css="cl-card-workload", basis="100%")
        self.advanced = disclosure("Advanced: engine, SLO bands, utilization", groups(
            group("Serving engine", ["mfu", "mbu", "memory_utilization", "max_batch"]),
            group("Load and batching", ["utilization", "static_longest_over_mean",
                                        "baseline_usd_per_gpu_hour"]),
            group("SLO bands", ["sizing", "min_replicas", "ttft_slo_low_ms", "ttft_slo_high_ms",
                                "tpot_slo_low_ms", "tpot_slo_high_ms"]),
        ), css="cl-card-advanced")
        levers_box = flex(*self.lever_cards.values(), sizing_mode="stretch_width", margin=0,
                                css_classes=["cl-cards"])
        cards = pn.Column(workload, levers_box, self.advanced, sizing_mode="stretch_width", margin=0)
        chart_bar = flex(
            pn.pane.HTML("<b>Cost waterfall</b> <span class='cl-muted'>(hover or tap a bar for how; "
                         "latency per step below the bars)</span>", margin=(6, 10)),
            self.yaxis_w, sizing_mode="stretch_width", justify_content="space-between", margin=0)
        capacity = card("Latency per class and capacity", self.classes, self.capacity_step_w, self.capacity,
                        css="cl-card-capacity", basis="100%")
        serving = pn.Column(self.headline, chart_bar, self.chart, self.strip, self.exports(), capacity, cards,
                            sizing_mode="stretch_width", margin=0)

        # ---- hardware tab
        self.train_w = {}
        for key, spec in TRAIN_CONTROLS.items():
            p = TrainingInputs.param[key]
            w = make_widget(key, p, getattr(self.training, key), spec)
            w.css_classes = [f"ctl-train-{key}"]
            w.param.watch(lambda e, k=key: self._train_widget_changed(k, e), "value")
            self.train_w[key] = w
        self.train_errors = {k: field_error(f"train-{k}") for k in self.train_w}
        self.training.param.watch(self._on_training, list(TRAIN_CONTROLS))
        table, self.table_source = training_table(table_data(self.rows))
        self.table_source.on_change("data", self._table_changed)
        table.stylesheets = [TABLE_CSS]
        table.css_classes = ["cl-training-table"]
        self.table = pn.pane.Bokeh(table, sizing_mode="stretch_width")
        self.train_figs, self.train_source = training_figures(training_data(self.rows))
        self.train_charts = flex(
            *(pn.pane.Bokeh(f, sizing_mode="stretch_width", styles={"flex": "1 1 300px"}, min_width=0)
              for f in self.train_figs), sizing_mode="stretch_width", margin=0)
        self.specs = pn.pane.HTML(render.specs_html(specs.load_all()),
                                  sizing_mode="stretch_width", css_classes=["cl-specs"])
        hardware = pn.Column(
            pn.pane.HTML("<p>Time, cost and energy to train a dense model of N parameters on D tokens "
                         "(6 N D FLOPs) with G accelerators at the given MFU. Edit a price cell "
                         "(✎) to recompute that row.</p>",
                         sizing_mode="stretch_width"),
            flex(*(pn.Column(w, self.train_errors[k], styles={"flex": "1 1 240px"}, min_width=0, margin=0,
                             sizing_mode="stretch_width")
                   for k, w in self.train_w.items()), sizing_mode="stretch_width", margin=0),
            self.table, self.train_charts,
            disclosure("Accelerator specifications and sources", self.specs, css="cl-specs-box"),
            sizing_mode="stretch_width", margin=0)

        # ---- formulas tab
        self.step_w = pn.widgets.Select.from_param(
            self.param.formula_step, label="Show the numbers of the step", options=step_options,
            width=260, css_classes=["ctl-formula-step"])
        self.formulas = pn.pane.HTML("", sizing_mode="stretch_width",
                                     css_classes=["cl-formulas-pane"])
        formulas = pn.Column(self.step_w, self.formulas, sizing_mode="stretch_width", margin=0)

        self.decide = Decide(self.scenario)
        self.decide.param.watch(lambda e: self.sync_url(), "b")
        self.tabs = pn.Tabs(("Serving cost", serving), ("Hardware: training", hardware),
                            ("How this is computed", formulas), ("Decide", self.decide), dynamic=True,
                            sizing_mode="stretch_width", css_classes=["cl-tabs"],
                            stylesheets=[TABS_CSS])
        self.tabs.param.watch(lambda e: setattr(self, "tab", TABS[e.new]), "active")
        self.param.watch(lambda e: setattr(self.decide, "active", e.new == "decide"), "tab")
        self.param.watch(lambda e: setattr(self.decide, "embed", e.new), "embed")
        self.layout = pn.Column(
            header, self.preset_desc, self.notice, self.dismiss_b, self.share_box, self.tabs,
            sizing_mode="stretch_width", css_classes=["cl-root"], min_width=0,
            styles={"max-width": "1280px", "margin": "0 auto"},
        )

    def __panel__(self):
        return self.layout

    # ------------------------------------------------------------ exports
    def exports(self) -> pn.Row:
        """Download buttons (waterfall, training table, scenario, chart PNG) and the scenario loader."""

        def dl(label, filename, text, css):
            return pn.widgets.FileDownload(
                callback=lambda: io.StringIO(text()), filename=filename, label=label, embed=False,
                auto=True, css_classes=[f"ctl-dl-{css}"], color="light", margin=(2, 4))

        png = pn.widgets.Button(label="Chart PNG", css_classes=["ctl-dl-png"], color="light", margin=(2, 4))
        png.js_on_click(args=dict(fig=self.fig), code=PNG_JS)
        self.load_w = pn.widgets.FileInput(accept=".json,application/json", css_classes=["ctl-load"],
                                           margin=(2, 4), width=220)
        self.load_w.param.watch(self._load_file, "value")
        self.downloads = {
            "waterfall.csv": dl("Waterfall CSV", "waterfall.csv", lambda: exports.waterfall_csv(self.wf), "wf-csv"),
            "waterfall.json": dl("Waterfall JSON", "waterfall.json", lambda: exports.waterfall_json(self.wf),
                                 "wf-json"),
            "training.csv": dl("Training CSV", "training.csv", lambda: exports.training_csv(self.rows), "tr-csv"),
            "training.json": dl("Training JSON", "training.json", lambda: exports.training_json(self.rows),
                                "tr-json"),
            "scenario.json": dl("Scenario JSON", "scenario.json",
                                lambda: exports.scenario_json(self.preset, self.scenario), "sc-json"),
        }
        load = pn.Column(pn.pane.HTML('<label class="cl-label">Load a scenario JSON</label>', margin=(2, 4, 0, 4)),
                         self.load_w, margin=0)
        return disclosure("Download and load", flex(*self.downloads.values(), png, load, margin=0,
                                                    align_items="flex-end"), css="cl-exports")

    def _load_file(self, event) -> None:
        if not event.new:
            return
        try:
            preset, scenario = exports.load_scenario(event.new)
        except InputError as e:
            self.error_notices = [Notice(e.field, e.message)]
            return
        self._applying = True
        try:
            self.preset = preset
            self.preset_w.value = preset or self.default_preset
            self.scenario.param.update(**scenario.values())
            self.error_notices = []
        finally:
            self._applying = False
        self.recompute()

    # ------------------------------------------------------------ URL state
    def apply_query(self, search: str) -> None:
        """Reset everything to what ``search`` asks for (bad keys are reported, not applied)."""
        st = parse_query(search)
        self._applying = True
        try:
            self.preset = st.preset
            self.preset_w.value = st.preset or self.default_preset
            self.scenario.param.update(**st.scenario.values())
            self.training.param.update(**{**training_defaults(), **st.training})
            self.prices = dict(st.prices)
            self.param.update(**{k: v for k, v in st.view.items()})
            self.decide.b = st.b
            self.url_notices = st.notices
            self.error_notices = []
        finally:
            self._applying = False
        self.recompute()
        self.recompute_training()
        self._update_view()
        self.sync_url()  # the address bar and share link drop what was not applied

    def _on_location(self, event) -> None:
        new = event.new or ""
        if new == self.query:
            return  # our own write coming back
        self.apply_query(new)

    def current_query(self) -> str:
        """The query string for the current state (non-default keys only)."""
        view = {k: getattr(self, k) for k in VIEW_DEFAULTS}
        training = {k: getattr(self.training, k) for k in TRAIN_CONTROLS}
        return build_query(self.preset, self.scenario, training, self.prices, view, b=self.decide.b)

    def sync_url(self) -> None:
        """Write the current state into the URL (no reload)."""
        if self._applying:
            return
        q = self.current_query()
        self.query = q
        if self._location is not None and self._location.search != q:
            self._location.search = q

    def page_url(self, query: str) -> str:
        """An absolute URL of this page with ``query``, when the location is known."""
        loc = self._location
        base = ""
        if loc is not None and loc.href:
            base = loc.href.split("#")[0].split("?")[0]
        return base + query

    # ------------------------------------------------------------ changes
    def _widget_changed(self, key: str, event) -> None:
        err = self.field_errors.get(key)
        value = event.new
        if value is not None and value == getattr(self.scenario, key):
            return
        try:
            if value is None:
                raise ValueError("empty")
            setattr(self.scenario, key, value)
        except ValueError:
            refuse(err, Scenario.param[key], value)
            set_widget(event.obj, getattr(self.scenario, key))
            return
        if err is not None:
            err.visible = False

    def _toggle_lever(self, lever: str, on: bool) -> None:
        off = [lv for lv in LEVERS if (lv in self.scenario.off and lv != lever) or (lv == lever and not on)]
        if off != self.scenario.off:
            self.scenario.off = off

    def _on_scenario(self, *events) -> None:
        for e in events:
            if e.name == "off":
                for lv, w in self.on_w.items():
                    w.value = lv not in e.new
            elif e.name == "mode":
                self.mode_w.value = e.new
            elif e.name in self.widgets:
                set_widget(self.widgets[e.name], e.new)
        if not self._applying:
            self.recompute()

    def recompute(self) -> None:
        """Run the engine on the scenario and refresh everything that shows it.

        A change the engine refuses (e.g. FP4 weights on a card without FP4, a
        model that does not fit) is reverted, with the engine's message shown.
        """
        if self._applying:
            return
        try:
            wf = levers.waterfall(self.scenario)
        except InputError as e:
            self._revert(Notice(e.field, e.message))
            return
        except Exception as e:  # an engine failure must not blank the page
            log.exception("engine failed")
            self._revert(Notice("engine", f"could not compute this scenario ({type(e).__name__}: {e})"))
            return
        self.wf = wf
        self._last_good = self.scenario.values()
        self._show_waterfall()
        self.sync_url()

    def _revert(self, notice: Notice) -> None:
        self.error_notices = [notice]
        if self.scenario.values() == self._last_good:
            return
        self.scenario.param.update(**self._last_good)

    def _show_waterfall(self) -> None:
        wf, s = self.wf, self.scenario
        self.source.data = waterfall_data(wf, self.yaxis)
        self.fig.x_range.factors = list(self.source.data["x"])  # the levers in the scenario's order
        self.headline.object = render.headline(wf, s)
        for st in wf.steps[1:]:
            self.summaries[st.lever].object = render.lever_summary(st)
        self._show_capacity()
        illustrative = s.mode == "illustrative"
        for lv in LEVERS:
            self.widgets[f"mult_{lv}"].visible = illustrative
        self.widgets["baseline_cost_per_day"].visible = illustrative
        self.illustrative_note.visible = illustrative
        self.widgets["big_params_B"].visible = s.big_model == "custom"
        self.widgets["small_params_B"].visible = s.small_model == "custom"
        self._show_formulas()

    def _show_formulas(self) -> None:
        row = next((r for r in self.rows if r.fastest), None)
        self.formulas.object = render.formulas(
            self.wf, self.scenario, self.formula_step, row,
            {k: getattr(self.training, k) for k in TRAIN_CONTROLS})

    @param.depends("formula_step", watch=True)
    def _formula_step_changed(self):
        self._show_formulas()
        self._show_capacity()

    def _show_capacity(self) -> None:
        st = next((x for x in self.wf.steps if x.lever == self.formula_step), self.wf.steps[-1])
        self.capacity.object = render.capacity(st)
        self.classes.object = render.latency_classes(st) + f'<div class="cl-lat">{render.slo_status(st)}</div>'

    @param.depends("yaxis", watch=True)
    def _yaxis_changed(self):
        set_yaxis(self.fig, self.yaxis)
        self.source.data = waterfall_data(self.wf, self.yaxis)
        self.sync_url()

    @param.depends("tab", watch=True)
    def _tab_changed(self):
        self.tabs.active = TABS.index(self.tab)
        self.sync_url()

    @param.depends("embed", "preset", "theme", watch=True)
    def _update_view(self):
        self.theme_w.value = self.theme
        self.title.visible = not self.embed
        self.embed_b.visible = not self.embed
        self.theme_w.visible = not self.embed
        shown = self.preset or self.default_preset
        desc = presets.describe(shown) if shown else (
            "The engine's defaults: the lesson's support chatbot, every multiplier modeled.")
        self.preset_desc.object = f'<div class="cl-sub">{render.esc(desc)}</div>'

    @param.depends("url_notices", "error_notices", watch=True)
    def _show_notices(self):
        parts = []
        if self.url_notices:
            parts.append(render.notices(self.url_notices, "Ignored in the link"))
        if self.error_notices:
            parts.append(render.notices(self.error_notices, "Change not applied"))
        self.notice.object = "".join(parts)
        self.notice.visible = self.dismiss_b.visible = bool(parts)

    def _dismiss(self):
        self.url_notices = []
        self.error_notices = []

    def _preset_selected(self, event) -> None:
        if self._applying or event.new == (self.preset or self.default_preset):
            return
        self.load(event.new)

    def load(self, preset: str) -> None:
        """Start over from ``preset`` ('' for the engine defaults)."""
        self._applying = True
        try:
            self.preset = preset
            self.preset_w.value = preset or self.default_preset
            self.scenario.param.update(**base_scenario(preset).values())
            self.error_notices = []
        finally:
            self._applying = False
        self.recompute()

    def reset(self) -> None:
        """Back to the current preset (or the defaults), training inputs and prices included."""
        self._applying = True
        try:
            self.training.param.update(**training_defaults())
            self.prices = {}
        finally:
            self._applying = False
        self.recompute_training()
        self.load(self.preset)

    def _show_share(self, snippet: bool) -> None:
        link = self.page_url(without_embed(self.query))
        embed = render.iframe_snippet(self.page_url(with_embed(self.query))) if snippet else None
        self.share_box.object = render.share_box(link, embed)
        self.share_box.visible = True

    # ------------------------------------------------------------ training
    def _train_widget_changed(self, key: str, event) -> None:
        err = self.train_errors[key]
        try:
            if event.new is None:
                raise ValueError("empty")
            setattr(self.training, key, event.new)
        except ValueError:
            refuse(err, TrainingInputs.param[key], event.new)
            set_widget(event.obj, getattr(self.training, key))
            return
        err.visible = False

    def _on_training(self, *events) -> None:
        for e in events:
            set_widget(self.train_w[e.name], e.new)
        if not self._applying:
            self.recompute_training()

    def recompute_training(self) -> None:
        """Rebuild the training table, bars and formulas from the engine."""
        if self._applying:
            return
        values = {k: getattr(self.training, k) for k in TRAIN_CONTROLS}
        try:
            rows = levers.training_table(**values, prices=self.prices)
        except Exception as e:  # any failure: a notice naming it, the last good rows kept
            self.error_notices = [describe_failure(e)]
            rows = self.rows
        self.rows = rows
        self._write_table()
        self.train_source.data = training_data(rows)
        self._show_formulas()
        self.sync_url()

    def _table_changed(self, attr, old, new) -> None:
        """A cell edited in the browser: a price is recomputed, any other cell put back."""
        data = self.table_source.data
        if len(data.get(EDITABLE, ())) != len(self.rows):
            return
        for i, row in enumerate(self.rows):
            if data[EDITABLE][i] != row.usd_per_gpu_hour:
                self._price_edited(i, data[EDITABLE][i])
                return
        if data != table_data(self.rows):
            self._write_table()

    def _write_table(self) -> None:
        # In place: this also runs inside the source's own change notification,
        # where replacing ``data`` would change the set being notified.
        self.table_source.data.update(table_data(self.rows))

    def _price_edited(self, row: int, value) -> None:
        """Set the price of the accelerator in table row ``row`` (text or number)."""
        hw = self.rows[row].hardware
        key = f"train.price.{hw}"
        try:
            usd = parse_value(TrainingInputs.param["usd_per_gpu_hour"], key, value)
        except InputError as e:
            self.error_notices = [Notice(key, e.message)]
            self.recompute_training()  # puts the old price back in the cell
            return
        new = dict(self.prices)
        if usd == specs.get(hw).usd_per_hour:
            new.pop(hw, None)
        else:
            new[hw] = usd
        self.prices = new
        self.recompute_training()


def create_app() -> pn.viewable.Viewable:
    """The app for one session (served or in Pyodide)."""
    loc = pn.state.location
    theme = requested_theme(loc.search if loc is not None else "")
    # Per session: components take the design current when they are made.
    pn.config.design = AutoNative if theme == "auto" else AppNative
    pn.config.raw_css = [*pn.config.raw_css, body_css(theme)]
    try:
        calc = Calculator(location=loc)
    except InputError as exc:  # e.g. a data file that fails validation: a page naming it, never a blank one
        # (any other exception is a bug: it must fail the build's pre-render and the tests)
        calc = pn.pane.HTML(render.notices([describe_failure(exc)], "The calculator could not start"),
                            sizing_mode="stretch_width")
    return pn.Column(calc, sizing_mode="stretch_width", margin=0, css_classes=["cl-page"])


def serve() -> pn.viewable.Viewable:
    """Build the app for this session and mark it servable (``panel serve``, Pyodide)."""
    return create_app().servable(title=TITLE)


if pn.state.served or __name__ == "__main__":
    serve()
