"""Cost Levers: the calculator UI.

Serve with ``panel serve app/main.py`` (from the repository root, with the
package installed: ``pip install -e '.[app]'``); ``build.py`` compiles this
file unchanged for Pyodide. Importing the module builds nothing: the app is
created only when served.

All numbers come from :mod:`levers`. The page is a header and four tabs,
each a small ``pn.viewable.Viewer`` in its own module over one shared
:class:`app.state.AppState` (the scenario, the training inputs, the engine's
last results and the URL):

- :mod:`app.serving`: the waterfall, latency, capacity and the lever cards;
- :mod:`app.training`: the training table and bars;
- :mod:`app.formulas`: the derivation of one step;
- :mod:`app.decide`: API or self-hosting, attribution, sensitivity, A against B.
"""

from __future__ import annotations

import panel as pn
import param

import levers  # noqa: F401  (the engine: ``app.main.levers`` is the module the app calls)
from app import render
from app.decide import Decide
from app.formulas import Formulas
from app.layout import flex
from app.serving import Serving
from app.state import AppState
from app.theme import TABS_CSS, AppNative, AutoNative, body_css
from app.training import Training
from app.urlstate import VIEW_PARAMS, describe_failure, requested_theme, with_embed, without_embed
from app.widgets import labelled, link
from levers import presets
from levers.errors import InputError

pn.extension(notifications=False)

TITLE = "Cost Levers"
#: The tabs in order, by the name the URL's ``tab`` key gives them.
TABS = tuple(VIEW_PARAMS["tab"].objects)

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


def notices_html(url_notices: list, error_notices: list) -> str:
    """The notices of keys the URL asked for that were not applied, and of refused changes."""
    parts = []
    if url_notices:
        parts.append(render.notices(url_notices, "Ignored in the link"))
    if error_notices:
        parts.append(render.notices(error_notices, "Change not applied"))
    return "".join(parts)


class Calculator(pn.viewable.Viewer):
    """The whole calculator: a header over the four tabs, all sharing one :class:`AppState`.

    Parameters
    ----------
    search
        The URL query to start from (``"?preset=lesson&..."``); read from
        ``location`` when not given.
    location
        ``pn.state.location`` when served (see :class:`AppState`).

    Attributes
    ----------
    state
        The shared state.
    serving, training_tab, formulas_tab, decide
        The tabs' Viewers.
    """

    state = param.ClassSelector(class_=AppState)

    def __init__(self, search: str | None = None, location=None, **params):
        super().__init__(state=AppState(location=location), **params)
        st = self.state
        self.serving = Serving(st)
        self.training_tab = Training(st)
        self.formulas_tab = Formulas(st)
        self.decide = Decide(st.scenario)
        link(st, "b", self.decide, "b", back=lambda b: b)
        link(st, "embed", self.decide, "embed")
        link(st, "tab", self.decide, "active", forward=lambda tab: tab == "decide")
        self.header = self._header()
        # Short titles: all four fit one line at 360 px.
        self.tabs = pn.Tabs(("Serving cost", self.serving), ("Training", self.training_tab),
                            ("Formulas", self.formulas_tab), ("Decide", self.decide), dynamic=True,
                            sizing_mode="stretch_width", css_classes=["cl-tabs"], stylesheets=[TABS_CSS])
        link(st, "tab", self.tabs, "active", forward=TABS.index, back=lambda i: TABS[i])
        notices = (st.param.url_notices, st.param.error_notices)
        any_notice = pn.bind(lambda u, e: bool(u or e), *notices)
        self.notice = pn.pane.HTML(pn.bind(notices_html, *notices), visible=any_notice,
                                   sizing_mode="stretch_width", css_classes=["cl-notices"])
        self.dismiss_b = pn.widgets.Button(label="Dismiss", visible=any_notice, css_classes=["ctl-dismiss"],
                                           variant="outline", width=90)
        self.dismiss_b.on_click(lambda e: st.param.update(url_notices=[], error_notices=[]))
        self.layout = pn.Column(
            self.header, self.notice, self.dismiss_b, self.share_box, self.tabs,
            sizing_mode="stretch_width", css_classes=["cl-root"], min_width=0,
            styles={"max-width": "1280px", "margin": "0 auto"})
        if search is None:
            search = location.search if location is not None else ""
        st.apply_query(search)

    def __panel__(self):
        return self.layout

    def _header(self) -> pn.Column:
        """Title, preset, mode, theme, and the share, embed and reset buttons."""
        st = self.state
        shown = st.param.embed.rx.not_()  # hidden when embedded
        options = {} if st.default_preset else {"Engine defaults": ""}
        options.update({name: name for name in presets.names()})
        self.preset_w = pn.widgets.Select(
            label="Preset", options=options, value=st.default_preset, sizing_mode="stretch_width",
            min_width=0, max_width=240, styles={"flex": "1 1 120px"}, css_classes=["ctl-preset"],
            description="\n".join(f"{n}: {presets.describe(n)}" for n in presets.names()))
        # Not a two-way link: choosing a preset starts over from it (an action), and
        # the preset equal to the engine's defaults stands for "no preset".
        link(st, "preset", self.preset_w, "value", forward=lambda p: p or st.default_preset)
        self.preset_w.param.watch(
            lambda e: None if e.new == (st.preset or st.default_preset) else st.load(e.new), "value")
        self.mode_w = pn.widgets.RadioButtonGroup.from_param(
            st.scenario.param.mode, label="Mode", options={"Illustrative": "illustrative", "Modeled": "modeled"},
            color="primary", variant="outline", css_classes=["ctl-mode"], sizing_mode="stretch_width")
        self.theme_w = pn.widgets.Select.from_param(
            st.param.theme, label="Theme", options={"Auto": "auto", "Light": "light", "Dark": "dark"},
            sizing_mode="stretch_width", min_width=0, max_width=120, styles={"flex": "1 1 90px"},
            css_classes=["ctl-theme"], visible=shown)
        self.theme_w.jscallback(value=THEME_JS)  # a new theme reloads the page in it
        self.share_b = pn.widgets.Button(label="Copy share link", color="primary", css_classes=["ctl-share"],
                                         align="end")
        self.share_b.js_on_click(args={"btn": self.share_b}, code=COPY_LINK_JS)
        self.share_b.on_click(lambda e: self._show_share(snippet=False))
        self.embed_b = pn.widgets.Button(label="Embed", css_classes=["ctl-embed"], align="end", visible=shown)
        self.embed_b.on_click(lambda e: self._show_share(snippet=True))
        self.reset_b = pn.widgets.Button(label="Reset", css_classes=["ctl-reset"], align="end")
        self.reset_b.on_click(lambda e: st.reset())
        self.title = pn.pane.HTML(
            f'<div class="cl-title">{render.esc(TITLE)}</div>'
            '<div class="cl-sub cl-wide-only">Five levers on the cost of serving an LLM, from the baseline bill '
            "to the final one.</div>",
            margin=(8, 10), sizing_mode="stretch_width", min_width=0, visible=shown)
        self.share_box = pn.pane.HTML("", visible=False, sizing_mode="stretch_width", css_classes=["cl-sharebox"])
        mode_box = pn.Column(labelled(self.mode_w), sizing_mode="stretch_width", min_width=0, max_width=240,
                             styles={"flex": "1 1 180px"}, margin=0)
        return pn.Column(
            self.title,
            flex(self.preset_w, mode_box, self.theme_w, align_items="flex-end", sizing_mode="stretch_width",
                 margin=0),
            flex(self.share_b, self.embed_b, self.reset_b, sizing_mode="stretch_width", margin=0),
            sizing_mode="stretch_width", css_classes=["cl-header"], margin=0)

    def _show_share(self, snippet: bool) -> None:
        q = self.state.query
        embed = render.iframe_snippet(self.state.page_url(with_embed(q))) if snippet else None
        self.share_box.object = render.share_box(self.state.page_url(without_embed(q)), embed)
        self.share_box.visible = True

    # Shortcuts to the parts scripts and tests reach for most.
    scenario = property(lambda self: self.state.scenario, doc="the shared scenario")
    query = property(lambda self: self.state.query, doc="the URL query of the current state")
    url_notices = property(lambda self: self.state.url_notices, doc="keys the URL asked for, not applied")
    rows = property(lambda self: self.state.rows, doc="the engine's training table")
    widgets = property(lambda self: self.serving.widgets, doc="the scenario's controls by input name")
    source = property(lambda self: self.serving.source, doc="the waterfall's data")
    fig = property(lambda self: self.serving.fig, doc="the waterfall figure")
    train_w = property(lambda self: self.training_tab.train_w, doc="the training inputs' controls")
    tab = property(lambda self: self.state.tab, lambda self, v: setattr(self.state, "tab", v),
                   doc="the open tab, by its URL name")


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
