"""Layout helpers shared by the app's views."""

from __future__ import annotations

import panel as pn


def flex(*objs, align_items: str | None = None, justify_content: str | None = None, gap: str | None = None,
         **kwargs) -> pn.Row:
    """A wrapping flex row: a plain Panel ``Row`` whose children wrap onto new lines.

    Used instead of ``pn.FlexBox``, which is a ``ReactiveHTML`` component: Panel
    sanitizes the text properties of those with ``nh3``, a compiled package the
    browser would then have to download before the calculator can start.
    """
    # min-width 0: Bokeh gives a row the sum of its children's widths as its
    # minimum, which would stop it wrapping on a narrow screen.
    styles = {"flex-wrap": "wrap", "min-width": "0", **kwargs.pop("styles", {})}
    for key, value in (("align-items", align_items), ("justify-content", justify_content), ("gap", gap)):
        if value:
            styles[key] = value
    return pn.Row(*objs, styles=styles, **kwargs)
