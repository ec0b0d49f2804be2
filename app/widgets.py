"""Widgets made from the engine's declarations, and the few links Panel has no helper for.

A control is made from its ``param`` declaration in :mod:`levers.scenario` or
:mod:`levers.training` (bounds, options, doc, unit) with Panel's own
``from_param``, which keeps widget and parameter equal both ways. Only a
field one can type into is linked by hand (:func:`checked`), so that a value
the declaration does not allow is refused next to the field instead of
raising inside Panel's link.
"""

from __future__ import annotations

import panel as pn
import param

from app import render
from app.charts import compact_formatter
from levers.params import allowed


def _label(key: str, p, spec: dict) -> str:
    text = spec.get("label") or key.replace("_", " ").capitalize()
    unit = getattr(p, "unit", "")
    if unit and not spec.get("pct") and unit not in ("x",) and unit.lower() not in text.lower():
        text += f" [{unit}]"
    return text


def control(obj: param.Parameterized, key: str, spec: dict, css: str | None = None):
    """A widget for input ``key`` of ``obj`` (a Scenario or TrainingInputs), kept equal to it.

    Parameters
    ----------
    obj
        The parameterized object holding the input (never replaced).
    key
        The input's name; its declaration gives bounds, options, doc and unit.
    spec
        How to show it: ``kind`` (select, radio, check, slider, editable,
        input), ``label`` (the unit is added in brackets unless it is in
        the label already), ``pct``, ``soft`` (an editable slider's initial
        span), ``step``, ``fmt``.
    css
        The widget's CSS class (default ``ctl-<key>``; the tests and the
        page scripts find fields by it).

    Returns
    -------
    (widget, error pane or None)
        The error pane (for fields one types into) says why a value was refused.
    """
    p = obj.param[key]
    kind = spec.get("kind") or ("radio" if isinstance(p, param.Selector) else
                                "check" if isinstance(p, param.Boolean) else "input")
    common = dict(label=_label(key, p, spec), sizing_mode="stretch_width", css_classes=[css or f"ctl-{key}"])
    is_int = isinstance(p, param.Integer)
    if kind == "select":
        options = list(p.catalog()) if getattr(p, "catalog", None) else list(p.objects)
        return pn.widgets.Select.from_param(p, options=options, **common), None
    if kind == "radio":
        return pn.widgets.RadioButtonGroup.from_param(p, options=list(p.objects), color="primary",
                                                      variant="outline", **common), None
    if kind == "check":
        return pn.widgets.Checkbox.from_param(p, **common), None
    step = spec.get("step") or getattr(p, "step", None) or (1 if is_int else 0.01)
    if kind == "slider":  # start and end from the declared bounds: nothing else can be chosen
        cls = pn.widgets.IntSlider if is_int else pn.widgets.FloatSlider
        kw = dict(format="0%") if spec.get("pct") else {}
        return cls.from_param(p, step=step, **kw, **common), None
    value = getattr(obj, key)
    if kind == "editable":
        s_lo, s_hi = spec.get("soft", p.bounds)
        cls = pn.widgets.EditableIntSlider if is_int else pn.widgets.EditableFloatSlider
        fmt = spec.get("fmt")
        kw = dict(format=compact_formatter() if fmt == "compact" else fmt) if fmt else {}
        kw.update(start=min(s_lo, value), end=max(s_hi, value))
    else:
        # No start/end: the browser would clamp a typed value silently; the engine's
        # declaration checks it instead and the field says why it was refused.
        cls = pn.widgets.IntInput if is_int else pn.widgets.FloatInput
        kw = dict(format=spec["fmt"]) if spec.get("fmt") else {}
    if p.doc and "description" in cls.param:
        kw["description"] = p.doc.strip()  # the hover text, where the widget has one
    w = cls(value=value, step=step, **kw, **common)
    err = field_error(css.removeprefix("ctl-") if css else key)
    checked(obj, key, w, err)
    return w, err


def checked(obj: param.Parameterized, key: str, widget, err: pn.pane.HTML) -> None:
    """Keep ``widget.value`` and ``obj.key`` equal, refusing what the declaration does not allow.

    Not ``from_param``: its link sets the parameter directly, and a typed
    value out of range (0, -5, an emptied field) would raise param's
    ``ValueError`` inside it. Here the field shows why, with the allowed
    range, and keeps the previous value.
    """

    def typed(event) -> None:
        value = event.new
        if value is not None and value == getattr(obj, key):
            return
        try:
            if value is None:
                raise ValueError("empty")
            setattr(obj, key, value)
        except ValueError:
            refuse(err, obj.param[key], value)
            set_widget(widget, getattr(obj, key))
            return
        err.visible = False

    widget.param.watch(typed, "value")
    # The current value, not the event's: a change the engine put back may be newer.
    obj.param.watch(lambda e: set_widget(widget, getattr(obj, key)), key)


def link(src: param.Parameterized, src_name: str, dst: param.Parameterized, dst_name: str,
         forward=None, back=None) -> None:
    """Keep ``dst.dst_name == forward(src.src_name)``, and with ``back`` the other way too.

    Panel's ``link(..., bidirectional=True)`` needs both sides to hold the
    same kind of value; here they may differ (a tab's name and its index, a
    list of levers switched off and one lever's switch).
    """
    forward = forward or (lambda v: v)
    setattr(dst, dst_name, forward(getattr(src, src_name)))
    src.param.watch(lambda e: setattr(dst, dst_name, forward(e.new)), src_name)
    if back is not None:
        dst.param.watch(lambda e: setattr(src, src_name, back(e.new)), dst_name)


def labelled(w):
    """``w`` with a visible label above it (button groups show none of their own)."""
    if isinstance(w, pn.widgets.RadioButtonGroup):
        return pn.Column(pn.pane.HTML(f'<label class="cl-label">{render.esc(w.label)}</label>',
                                      margin=(5, 10, 0, 10)),
                         w, sizing_mode="stretch_width", margin=0)
    return w


def disclosure(title: str, *objs, css: str = "") -> pn.Column:
    """A section shown and hidden by a toggle button above it.

    Used instead of a collapsed ``pn.Card``: a card that starts collapsed in
    the same document as a Bokeh ``DataTable`` stops the table from rendering
    (BokehJS lays the table out before it has built its grid).
    """
    toggle = pn.widgets.Toggle(label=f"▸ {title}", value=False, color="primary", variant="outline",
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
