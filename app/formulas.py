"""The "Formulas" tab: how the numbers of one step are computed, with the inputs substituted.

The text is the engine's derivation (:mod:`levers.derivation`), laid out by
:func:`app.render.formulas`; the step shown is the shared state's
``formula_step`` (the capacity card on the serving tab shows the same step).
"""

from __future__ import annotations

import panel as pn
import param

from app import render
from app.state import AppState


def formulas_html(state: AppState) -> str:
    """The formulas of the state's chosen step, and of training on the fastest accelerator."""
    fastest = next((r for r in state.rows if r.fastest), None)
    return render.formulas(state.wf, state.scenario, state.formula_step, fastest, state.training_inputs())


class Formulas(pn.viewable.Viewer):
    """The formulas tab over a shared :class:`~app.state.AppState`."""

    state = param.ClassSelector(class_=AppState)

    def __init__(self, state: AppState, **params):
        super().__init__(state=state, **params)
        self.step_w = pn.widgets.Select.from_param(
            state.param.formula_step, label="Show the numbers of the step",
            width=260, css_classes=["ctl-formula-step"])
        self.formulas = pn.pane.HTML(
            # the training rows change with the training inputs, so they stand for both
            pn.bind(lambda *_: formulas_html(state), state.param.wf, state.param.formula_step, state.param.rows),
            sizing_mode="stretch_width", css_classes=["cl-formulas-pane"])
        self.layout = pn.Column(self.step_w, self.formulas, sizing_mode="stretch_width", margin=0)

    def __panel__(self):
        return self.layout
