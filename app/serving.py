"""The "Serving cost" tab: the waterfall, its latency strip, capacity and the lever cards.

Every input of the scenario has a control here (made from its declaration,
:func:`app.widgets.control`); every figure is the engine's, from the shared
state's last waterfall.
"""

from __future__ import annotations

import io

import panel as pn
import param

from app import exports, render
from app.charts import latency_strip, set_yaxis, waterfall_data, waterfall_figure
from app.layout import flex
from app.state import AppState
from app.widgets import control, disclosure, labelled, link
from levers import presets
from levers.registry import REGISTRY
from levers.scenario import LEVER_TITLES, LEVERS, Scenario

#: The lever switch's text, on and off (the whole button toggles).
LEVER_ON = {True: "✓ Lever on", False: "Lever off: click to turn on"}

#: How each input is shown (see :func:`app.widgets.control`). Soft ranges are
#: the slider's initial span; the engine's bounds (read from the declarations)
#: stay the hard limits. ``when=(key, values)``: shown only while input ``key``
#: has one of ``values`` (the input's doc says it applies only then).
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
    "task_shape": dict(kind="radio", label="Task shape"),
    "thinking_multiple": dict(kind="input", label="Thinking tokens per output token",
                              when=("task_shape", ("reasoning",))),
    "agent_turns": dict(kind="input", label="Model calls", when=("task_shape", ("agentic",))),
    "observation_tokens": dict(kind="input", label="Tool output per call", when=("task_shape", ("agentic",))),
    "cache_hit_rate": dict(kind="slider", pct=True, label="Cache hit rate"),
    "kv_offload": dict(kind="check", label="Offload the prefix cache to host memory and SSD"),
    "distinct_prefixes": dict(kind="input", fmt="0,0", label="Distinct prefixes", when=("kv_offload", (True,))),
    "kv_dram_GB": dict(kind="input", label="Host memory for the cache", when=("kv_offload", (True,))),
    "kv_ssd_GB": dict(kind="input", label="SSD for the cache", when=("kv_offload", (True,))),
    "kv_dram_GBps": dict(kind="input", label="Host-to-GPU bandwidth", when=("kv_offload", (True,))),
    "kv_ssd_GBps": dict(kind="input", label="SSD-to-GPU bandwidth", when=("kv_offload", (True,))),
    "prefix_popularity_skew": dict(kind="input", label="Prefix popularity skew", when=("kv_offload", (True,))),
    "speculative": dict(kind="radio", label="Speculative decoding"),
    "spec_acceptance": dict(kind="slider", pct=True, label="Draft tokens accepted",
                            when=("speculative", ("mtp", "draft_model"))),
    "spec_draft_tokens": dict(kind="input", label="Tokens drafted per step",
                              when=("speculative", ("mtp", "draft_model"))),
    "disaggregated": dict(kind="check", label="Prefill and decode on separate pools"),
    "disagg_network_GBps": dict(kind="input", label="KV transfer bandwidth", when=("disaggregated", (True,))),
    "batching": dict(kind="radio", label="Batching"),
    "static_longest_over_mean": dict(kind="editable", soft=(1, 4), label="Static batch: longest / mean reply"),
    "route_share": dict(kind="slider", pct=True, label="Share to the small model"),
    "route_policy": dict(kind="radio", label="Routing policy"),
    "weights": dict(kind="radio", label="Weights"),
    "kv_cache": dict(kind="radio", label="KV cache"),
    "hardware": dict(kind="select", label="Accelerator"),
    "consolidate": dict(kind="check", label="Consolidate both models on one GPU pool"),
    "usd_per_gpu_hour": dict(kind="input", label="Price (0 = list price)"),
    "baseline_usd_per_gpu_hour": dict(kind="input", label="Baseline price (0 = list price)"),
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
#: Shown elsewhere: the mode in the header, the order in the Decide tab, ``off`` as each card's switch.
NOT_HERE = ("mode", "off", "order")
#: Each lever card's own controls, in the lesson's order.
LEVER_CONTROLS = {m.ID: list(m.INPUTS) for m in REGISTRY}
MODELS = ["big_model", "big_params_B", "small_model", "small_params_B", "baseline_hardware"]

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


def step_of(wf, lever: str):
    """The waterfall step of ``lever`` (the last step when it has none)."""
    return next((x for x in wf.steps if x.lever == lever), wf.steps[-1])


def preset_description(preset: str, default_preset: str) -> str:
    """One line on the preset shown (the engine's defaults when none is)."""
    shown = preset or default_preset
    desc = presets.describe(shown) if shown else (
        "The engine's defaults: the lesson's support chatbot, every multiplier modeled.")
    return f'<div class="cl-sub">{render.esc(desc)}</div>'


def card(title, *objs, css="", basis="230px"):
    return pn.Card(*objs, title=title, sizing_mode="stretch_width", styles={"flex": f"1 1 {basis}"},
                   min_width=0, margin=(5, 5), css_classes=[css] if css else [])


class Serving(pn.viewable.Viewer):
    """The serving tab over a shared :class:`~app.state.AppState`.

    Attributes
    ----------
    widgets
        One control per scenario input (``mode``, ``off`` and ``order`` are
        shown elsewhere), keyed by the input's name.
    field_errors
        The refusal line of each field one types into.
    on_w
        Each lever's on/off switch.
    source, fig
        The waterfall's data and figure (updated in place).
    downloads
        The export buttons by file name.
    """

    state = param.ClassSelector(class_=AppState)

    def __init__(self, state: AppState, **params):
        super().__init__(state=state, **params)
        s = state.scenario
        self.widgets, self.field_errors = {}, {}
        for key in Scenario.keys():  # noqa: SIM118 (a classmethod, not a dict)
            if key in NOT_HERE:
                continue
            self.widgets[key], err = control(s, key, CONTROLS.get(key, {}))
            if err is not None:
                self.field_errors[key] = err
        illustrative = s.param.mode.rx() == "illustrative"
        for lv in LEVERS:
            self.widgets[f"mult_{lv}"].visible = illustrative
        self.widgets["baseline_cost_per_day"].visible = illustrative
        self.widgets["big_params_B"].visible = s.param.big_model.rx() == "custom"
        self.widgets["small_params_B"].visible = s.param.small_model.rx() == "custom"
        self.views = {k: pn.Column(labelled(w), *([self.field_errors[k]] if k in self.field_errors else []),
                                   sizing_mode="stretch_width", margin=0)
                      for k, w in self.widgets.items()}
        for k, view in self.views.items():
            if "when" in CONTROLS.get(k, {}):
                on, values = CONTROLS[k]["when"]
                view.visible = s.param[on].rx().rx.pipe(lambda v, values=values: v in values)
        self.on_w = {lv: self._switch(lv) for lv in LEVERS}

        wf = state.param.wf
        self.headline = pn.pane.HTML(pn.bind(render.headline, wf, s), sizing_mode="stretch_width",
                                     css_classes=["cl-headline"])
        self.fig, self.source = waterfall_figure(waterfall_data(state.wf, state.yaxis), state.yaxis)
        self.chart = pn.pane.Bokeh(self.fig, sizing_mode="stretch_width", height=300)
        self.strip = pn.pane.Bokeh(latency_strip(self.fig, self.source), sizing_mode="stretch_width", height=96)
        self.yaxis_w = pn.widgets.RadioButtonGroup.from_param(
            state.param.yaxis, label="Y axis",
            options={"$/day": "usd_per_day", "$/1M tokens": "usd_per_1m_tokens", "$/task": "usd_per_task"},
            color="primary", variant="outline", css_classes=["ctl-yaxis"])
        state.param.watch(self._draw, ["wf", "yaxis"])
        step = pn.bind(step_of, wf, state.param.formula_step)
        self.classes = pn.pane.HTML(
            pn.bind(lambda st: render.latency_classes(st) + f'<div class="cl-lat">{render.slo_status(st)}</div>',
                    step), sizing_mode="stretch_width", css_classes=["cl-classes-pane"])
        self.capacity_step_w = pn.widgets.Select.from_param(
            state.param.formula_step, label="Step", width=200,
            css_classes=["ctl-capacity-step"])
        self.capacity = pn.pane.HTML(pn.bind(render.capacity, step), sizing_mode="stretch_width",
                                     css_classes=["cl-capacity-pane"])
        self.summaries = {
            lv: pn.pane.HTML(pn.bind(lambda w, lv=lv: render.lever_summary(step_of(w, lv)), wf),
                             sizing_mode="stretch_width", css_classes=[f"cl-summary-{lv}"], margin=(5, 10))
            for lv in LEVERS}
        self.preset_desc = pn.pane.HTML(pn.bind(preset_description, state.param.preset, state.default_preset),
                                        sizing_mode="stretch_width", margin=(0, 10))
        self.illustrative_note = pn.pane.HTML(
            '<div class="cl-expl">Illustrative mode: each lever divides the bill by its hand-set '
            "multiplier; the controls still size the GPUs, latency and energy.</div>",
            sizing_mode="stretch_width", visible=illustrative)
        self.layout = self._layout()

    def __panel__(self):
        return self.layout

    def _switch(self, lever: str) -> pn.widgets.Toggle:
        """The lever's on/off button, two-way with the scenario's ``off`` list."""
        s = self.state.scenario
        w = pn.widgets.Toggle(color="primary", variant="outline", css_classes=[f"ctl-on-{lever}"], align="start")
        w.param.watch(lambda e: setattr(w, "label", LEVER_ON[e.new]), "value")
        link(s, "off", w, "value", forward=lambda off: lever not in off,
             back=lambda on: [lv for lv in LEVERS if (lv != lever and lv in s.off) or (lv == lever and not on)])
        w.label = LEVER_ON[w.value]
        return w

    def _draw(self, *events) -> None:
        """The waterfall's data and axis for the state's waterfall and y axis (in place)."""
        self.source.data = waterfall_data(self.state.wf, self.state.yaxis)
        self.fig.x_range.factors = list(self.source.data["x"])  # the levers in the scenario's order
        set_yaxis(self.fig, self.state.yaxis)

    # ------------------------------------------------------------ layout
    def _layout(self) -> pn.Column:
        W = self.views

        def group(title, keys, *extra):
            head = pn.pane.HTML(f'<div class="cl-group">{render.esc(title)}</div>',
                                margin=(6, 10, 0, 10), sizing_mode="stretch_width")
            return pn.Column(head, *extra, *(W[k] for k in keys), sizing_mode="stretch_width",
                             styles={"flex": "1 1 260px"}, min_width=0, margin=0)

        def groups(*cols):
            return flex(*cols, sizing_mode="stretch_width", margin=0, gap="0 12px")

        self.lever_cards = {
            lv: card(f"{i}. {LEVER_TITLES[lv]}", self.summaries[lv], self.on_w[lv], W[f"mult_{lv}"],
                     *(W[k] for k in LEVER_CONTROLS[lv]), css=f"cl-card-{lv}")
            for i, lv in enumerate(LEVERS, 1)}
        workload = card("Workload", self.illustrative_note, groups(
            group("Traffic", ["requests_per_day", "peak_to_average"], W["baseline_cost_per_day"]),
            group("Prompt and reply", ["system_prompt_tokens", "user_tokens", "output_tokens"]),
            group("Task", ["task_shape", "thinking_multiple", "agent_turns", "observation_tokens"]),
            group("Models and baseline fleet", MODELS),
        ), css="cl-card-workload", basis="100%")
        self.advanced = disclosure("Advanced: engine, SLO bands, utilization", groups(
            group("Serving engine", ["mfu", "mbu", "memory_utilization", "max_batch"]),
            group("Load and batching", ["utilization", "static_longest_over_mean", "baseline_usd_per_gpu_hour"]),
            group("SLO bands", ["sizing", "min_replicas", "ttft_slo_low_ms", "ttft_slo_high_ms",
                                "tpot_slo_low_ms", "tpot_slo_high_ms"]),
        ), css="cl-card-advanced")
        levers_box = flex(*self.lever_cards.values(), sizing_mode="stretch_width", margin=0,
                          css_classes=["cl-cards"])
        cards = pn.Column(workload, levers_box, self.advanced, sizing_mode="stretch_width", margin=0)
        chart_bar = flex(pn.pane.HTML("<b>Cost waterfall</b>", margin=(6, 10)), self.yaxis_w,
                         sizing_mode="stretch_width", justify_content="space-between", margin=0)
        capacity = card("Latency per class and capacity", self.classes, self.capacity_step_w, self.capacity,
                        css="cl-card-capacity", basis="100%")
        hint = pn.pane.HTML(
            '<div class="cl-expl cl-muted">Hover or tap a bar for how it was computed. Under the bars: each '
            "step's TTFT (90th percentile) and TPOT, red where above the SLO band; ✗ marks a step that "
            "misses its SLO.</div>", sizing_mode="stretch_width", margin=(0, 10))
        return pn.Column(self.headline, chart_bar, self.chart, self.strip, hint, self.preset_desc,
                         self.exports(), capacity, cards, sizing_mode="stretch_width", margin=0)

    def exports(self) -> pn.Column:
        """Download buttons (waterfall, training table, scenario, chart PNG) and the scenario loader."""
        st = self.state

        def dl(label, filename, text, css):
            return pn.widgets.FileDownload(
                callback=lambda: io.StringIO(text()), filename=filename, label=label, embed=False,
                auto=True, css_classes=[f"ctl-dl-{css}"], color="light", margin=(2, 4))

        png = pn.widgets.Button(label="Chart PNG", css_classes=["ctl-dl-png"], color="light", margin=(2, 4))
        png.js_on_click(args=dict(fig=self.fig), code=PNG_JS)
        self.load_w = pn.widgets.FileInput(accept=".json,application/json", css_classes=["ctl-load"],
                                           margin=(2, 4), width=220)
        self.load_w.param.watch(lambda e: st.load_file(e.new) if e.new else None, "value")
        self.downloads = {
            "waterfall.csv": dl("Waterfall CSV", "waterfall.csv", lambda: exports.waterfall_csv(st.wf), "wf-csv"),
            "waterfall.json": dl("Waterfall JSON", "waterfall.json", lambda: exports.waterfall_json(st.wf),
                                 "wf-json"),
            "training.csv": dl("Training CSV", "training.csv", lambda: exports.training_csv(st.rows), "tr-csv"),
            "training.json": dl("Training JSON", "training.json", lambda: exports.training_json(st.rows),
                                "tr-json"),
            "scenario.json": dl("Scenario JSON", "scenario.json",
                                lambda: exports.scenario_json(st.preset, st.scenario), "sc-json"),
        }
        load = pn.Column(pn.pane.HTML('<label class="cl-label">Load a scenario JSON</label>', margin=(2, 4, 0, 4)),
                         self.load_w, margin=0)
        return disclosure("Download and load", flex(*self.downloads.values(), png, load, margin=0,
                                                    align_items="flex-end"), css="cl-exports")
