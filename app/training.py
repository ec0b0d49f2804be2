"""The "Training" tab: time, cost and energy of a training run on each accelerator.

The table and bars are the engine's rows (:func:`levers.training_table`) from
the shared state; a price cell edited in the table goes back through the
engine's parsing (:meth:`app.state.AppState.set_price`).
"""

from __future__ import annotations

import panel as pn
import param

from app import render
from app.charts import EDITABLE, table_data, training_data, training_figures, training_table
from app.layout import flex
from app.state import AppState
from app.theme import TABLE_CSS
from app.widgets import control, disclosure
from levers import specs

#: How each training input is shown (see :func:`app.widgets.control`).
TRAIN_CONTROLS = {
    "params": dict(kind="editable", soft=(1e9, 1e12), step=1e9, fmt="compact", label="Model parameters N"),
    "tokens": dict(kind="editable", soft=(1e11, 3e13), step=1e11, fmt="compact", label="Training tokens D"),
    "mfu": dict(kind="slider", pct=True, label="Training MFU"),
    "gpus": dict(kind="editable", soft=(8, 16_384), step=8, label="Accelerators G"),
}


class Training(pn.viewable.Viewer):
    """The training tab over a shared :class:`~app.state.AppState`.

    Attributes
    ----------
    train_w, train_errors
        The inputs' controls and their refusal lines, by input name.
    table, table_source
        The table (its price column editable) and its data.
    train_source
        The bars' data.
    """

    state = param.ClassSelector(class_=AppState)

    def __init__(self, state: AppState, **params):
        super().__init__(state=state, **params)
        self.train_w, self.train_errors = {}, {}
        for key, spec in TRAIN_CONTROLS.items():
            self.train_w[key], err = control(state.training, key, spec, css=f"ctl-train-{key}")
            if err is not None:
                self.train_errors[key] = err
        table, self.table_source = training_table(table_data(state.rows))
        self.table_source.on_change("data", self._table_changed)
        table.stylesheets = [TABLE_CSS]
        table.css_classes = ["cl-training-table"]
        self.table = pn.pane.Bokeh(table, sizing_mode="stretch_width")
        self.train_figs, self.train_source = training_figures(training_data(state.rows))
        state.param.watch(self._draw, "rows")
        # Each chart in a column: a Bokeh pane hands the page the figure itself, which
        # takes no flex basis; the column wraps to one chart a line below ~600 px.
        charts = flex(*(pn.Column(pn.pane.Bokeh(f, sizing_mode="stretch_width"), sizing_mode="stretch_width",
                                  min_width=0, margin=0, styles={"flex": "1 1 300px"})
                        for f in self.train_figs), sizing_mode="stretch_width", margin=0)
        self.specs = pn.pane.HTML(render.specs_html(specs.load_all()), sizing_mode="stretch_width",
                                  css_classes=["cl-specs"])
        fields = flex(*(pn.Column(w, *([self.train_errors[k]] if k in self.train_errors else []),
                                  styles={"flex": "1 1 240px"}, min_width=0, margin=0, sizing_mode="stretch_width")
                        for k, w in self.train_w.items()), sizing_mode="stretch_width", margin=0)
        self.layout = pn.Column(
            pn.pane.HTML("<p>Time, cost and energy to train a dense model of N parameters on D tokens "
                         "(6 N D FLOPs) with G accelerators at the given MFU. Edit a price cell "
                         "(✎) to recompute that row.</p>", sizing_mode="stretch_width"),
            fields, self.table, charts,
            disclosure("Accelerator specifications and sources", self.specs, css="cl-specs-box"),
            sizing_mode="stretch_width", margin=0)

    def __panel__(self):
        return self.layout

    def _draw(self, *events) -> None:
        self._write_table()
        self.train_source.data = training_data(self.state.rows)

    def _write_table(self) -> None:
        # In place: this also runs inside the source's own change notification,
        # where replacing ``data`` would change the set being notified.
        self.table_source.data.update(table_data(self.state.rows))

    def _table_changed(self, attr, old, new) -> None:
        """A cell edited in the browser: a price goes to the engine, any other cell is put back.

        A Bokeh callback, not a param link: the table edits its source's data
        in place, cell by cell.
        """
        rows, data = self.state.rows, self.table_source.data
        if len(data.get(EDITABLE, ())) != len(rows):
            return
        for row, typed in zip(rows, data[EDITABLE], strict=True):
            if typed != row.usd_per_gpu_hour:
                self.state.set_price(row.hardware, typed)
                return
        if data != table_data(rows):
            self._write_table()
