"""Light and dark theme, following the system by default.

Panel's native design draws every component from CSS variables
(``--panel-background-color`` ...). The default theme's variables are set in
each component's shadow root; :class:`AutoNative` appends one more stylesheet
to every component that swaps in the dark theme's values under
``@media (prefers-color-scheme: dark)``, so the page follows the system
without a reload, in ``panel serve`` and in Pyodide alike. ``?theme=light`` and
``?theme=dark`` force one theme (Panel applies ``?theme=dark`` itself).
"""

from __future__ import annotations

from typing import ClassVar

from bokeh.models import InlineStyleSheet
from panel.pane import HTML
from panel.theme import Inherit, Native
from panel.viewable import Viewable

#: Panel 1.9's dark theme variables (panel/theme/css/dark.css), kept inline so
#: the app reads no files of its own.
DARK_VARS = """
  --panel-primary-color: #0072b5;
  --panel-on-primary-color: #ffffff;
  --panel-secondary-color: #343a40;
  --panel-on-secondary-color: #ffffff;
  --panel-background-color: #212529;
  --panel-background-rgb: 33, 37, 41;
  --panel-on-background-color: #ffffff;
  --panel-surface-color: #2b3035;
  --panel-on-surface-color: #ffffff;
  --panel-border-color: #3a3f44;
  --panel-shadow-color: rgba(10, 14, 18, 0.6);
  --primary-bg-color: #0d6efd;
  --secondary-bg-color: #6c757d;
  --success-bg-color: #198754;
  --danger-bg-color: #dc3545;
  --warning-bg-color: #ffc107;
  --info-bg-color: #0dcaf0;
  --light-bg-color: #f8f9fa;
  --dark-bg-color: #212529;
  --primary-bg-subtle: #031633;
  --secondary-bg-subtle: #212529;
  --success-bg-subtle: #051b11;
  --info-bg-subtle: #032830;
  --warning-bg-subtle: #332701;
  --danger-bg-subtle: #2c0b0e;
  --light-bg-subtle: #343a40;
  --dark-bg-subtle: #1a1d20;
  --primary-text-color: #6ea8fe;
  --secondary-text-color: #dee2e6;
  --success-text-color: #75b798;
  --info-text-color: #6edff6;
  --warning-text-color: #ffda6a;
  --danger-text-color: #ea868f;
  --light-text-color: #f8f9fa;
  --dark-text-color: #dee2e6;
  --primary-border-subtle: #084298;
  --secondary-border-subtle: #495057;
  --success-border-subtle: #0f5132;
  --info-border-subtle: #055160;
  --warning-border-subtle: #664d03;
  --danger-border-subtle: #842029;
  --light-border-subtle: #495057;
  --dark-border-subtle: #343a40;
"""

AUTO_DARK_CSS = (
    "@media (prefers-color-scheme: dark) {\n:host, :root {" + DARK_VARS + "}\n"
    "  .bk-input, select.bk-input, textarea.bk-input { color-scheme: dark; }\n}\n"
)


def _shared(sheet, cache: dict | None):
    """One ``InlineStyleSheet`` per document for each of our CSS strings.

    A CSS string in ``stylesheets`` is copied into every model that carries
    it; a stylesheet *model* is stored once in the document and referenced.
    Panel keeps ``cache`` per document, so each session gets its own models.
    """
    if not (isinstance(sheet, str) and sheet in _SHARED_CSS):
        return sheet
    key = f"cost-levers-inline:{_SHARED_CSS.index(sheet)}"
    if cache is None:
        return InlineStyleSheet(css=sheet)
    if key not in cache:
        cache[key] = InlineStyleSheet(css=sheet)
    return cache[key]


class AppNative(Native):
    """Panel's native design, plus the app's own styles on every HTML pane.

    :data:`APP_CSS` and the dark-theme sheet are shared stylesheet models,
    stored once per document instead of once per component.
    """

    modifiers: ClassVar[dict] = {HTML: {"stylesheets": [Inherit, "__APP_CSS__"]}}

    @classmethod
    def _patch_modifiers(cls, doc, modifiers, cache):
        super()._patch_modifiers(doc, modifiers, cache)
        if "stylesheets" in modifiers:
            modifiers["stylesheets"] = [_shared(APP_CSS if st == "__APP_CSS__" else st, cache)
                                        for st in modifiers["stylesheets"]]


class AutoNative(AppNative):
    """:class:`AppNative`, switching to Panel's dark colours with the system."""

    modifiers: ClassVar[dict] = {Viewable: {"stylesheets": [Inherit, AUTO_DARK_CSS]}}


def body_css(theme: str) -> str:
    """CSS for the page (outside the components) for ``theme``: one background
    on ``html`` and ``body`` alike, so it does not change below the first screen."""
    dark = "html, body { background: #212529; color: #ffffff; }"
    light = "html, body { background: #ffffff; color: #212529; }"
    if theme == "dark":
        return dark
    if theme == "light":
        return light
    return light + "\n@media (prefers-color-scheme: dark) { " + dark + " }"


#: Styles for the app's own HTML (stat cards, notices, formulas, specs).
APP_CSS = """
:host { --cl-good: var(--success-text-color); --cl-warn: var(--warning-text-color);
  --cl-muted-color: color-mix(in srgb, var(--panel-on-background-color) 78%, var(--panel-background-color)); }
.cl-muted { color: var(--cl-muted-color); }
.cl-label { font-size: 13px; }
.cl-group { font-size: 12px; font-weight: 700; text-transform: uppercase; letter-spacing: 0.04em;
  color: var(--cl-muted-color); border-bottom: 1px solid var(--panel-border-color); padding-bottom: 2px; }
.cl-title { font-size: 1.5em; font-weight: 700; margin: 0; line-height: 1.2; }
.cl-sub { margin: 2px 0 0 0; color: var(--cl-muted-color); font-size: 13px; }
.cl-stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 8px; }
@media (max-width: 600px) {
  .cl-stats { display: flex; overflow-x: auto; scroll-snap-type: x proximity; padding-bottom: 4px; }
  .cl-stat { flex: 0 0 150px; scroll-snap-align: start; }
  .cl-stat .v { font-size: 1.15em; }
}
.cl-stat { background: var(--panel-surface-color); color: var(--panel-on-surface-color);
  border: 1px solid var(--panel-border-color); border-radius: 8px; padding: 6px 10px; min-width: 0; }
.cl-stat .k { font-size: 12px; font-weight: 600; }
.cl-stat .v { font-size: 1.35em; font-weight: 700; overflow-wrap: anywhere; }
.cl-stat .n { font-size: 12px; overflow-wrap: anywhere; }
.cl-honest { font-size: 13px; margin-top: 6px; padding: 6px 10px; border-left: 3px solid var(--panel-primary-color);
  background: var(--panel-surface-color); }
.cl-good { color: var(--success-text-color); }
.cl-warn { color: var(--danger-text-color); font-weight: 600; }
.cl-badge { display: inline-block; border-radius: 10px; padding: 0 7px; font-size: 12px; font-weight: 600;
  border: 1px solid currentColor; }
.cl-mult { font-size: 1.6em; font-weight: 700; line-height: 1.1; }
.cl-mult.off { color: var(--cl-muted-color); }
.cl-lat { font-size: 13px; margin: 2px 0; overflow-wrap: anywhere; }
.cl-expl { font-size: 13px; line-height: 1.4; overflow-wrap: anywhere; }
.cl-fielderr { font-size: 13px; color: var(--danger-text-color); margin: 0 10px; }
.cl-classes { border-collapse: collapse; font-size: 13px; margin: 6px 0; width: 100%; max-width: 560px; }
.cl-classes caption { text-align: left; font-weight: 600; padding-bottom: 2px; }
.cl-classes th, .cl-classes td { text-align: right; padding: 2px 6px;
  border-bottom: 1px solid var(--panel-border-color); }
.cl-classes th:first-child, .cl-classes td:first-child { text-align: left; }
.cl-capacity { font-size: 13px; }
.cl-cap-title { font-weight: 600; margin-bottom: 4px; }
.cl-cap-fleet { margin: 6px 0 10px 0; }
.cl-membar { display: flex; height: 18px; border: 1px solid var(--panel-border-color); border-radius: 4px;
  overflow: hidden; margin: 4px 0; background: var(--panel-background-color); }
.cl-membar span { display: block; height: 100%; }
.w { background: #6b7a8f; } .kv { background: #2a9d8f; }
.free { background: repeating-linear-gradient(45deg, transparent 0 4px, rgba(127,127,127,0.35) 4px 6px); }
.cl-cap-legend .sw { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -2px;
  margin: 0 3px 0 8px; }
.cl-cap-legend .sw:first-child { margin-left: 0; }
.cl-chain { margin: 4px 0 0 0; padding-left: 20px; }
.cl-cap-price { font-size: 14px; }
.cl-notice { border: 1px solid var(--warning-border-subtle); background: var(--warning-bg-subtle);
  color: var(--panel-on-background-color); border-radius: 6px; padding: 6px 10px; font-size: 13px; }
.cl-notice ul { margin: 4px 0 0 0; padding-left: 18px; }
.cl-notice code, .cl-formulas code { overflow-wrap: anywhere; }
.cl-formulas { line-height: 1.45; overflow-wrap: anywhere; font-size: 13px; }
.cl-formulas h4 { margin: 14px 0 4px 0; }
.cl-formulas .ln { display: flex; flex-wrap: wrap; gap: 2px 8px; align-items: baseline; padding: 3px 0;
  border-bottom: 1px solid var(--panel-border-color); }
.cl-formulas .what { flex: 0 0 13em; font-weight: 600; font-size: 13px; }
.cl-formulas .res { font-weight: 700; }
.cl-formulas .eq { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px;
  background: var(--panel-surface-color); border-radius: 4px; padding: 2px 6px; display: inline-block; }
.cl-spec summary { cursor: pointer; font-weight: 600; padding: 4px 0; }
.cl-spec table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px 0; }
.cl-spec td { padding: 2px 10px 2px 0; vertical-align: top; }
.cl-spec .src { font-size: 12px; overflow-wrap: anywhere; }
.cl-share textarea, .cl-share input { width: 100%; box-sizing: border-box; font-family: ui-monospace, monospace;
  font-size: 13px; line-height: 1.6; min-height: 2.2em; background: var(--panel-background-color);
  color: var(--panel-on-background-color); border: 1px solid var(--panel-border-color); border-radius: 4px;
  padding: 6px; }
.cl-share textarea { height: 7.5em; resize: vertical; }
a { color: var(--primary-text-color); }
"""

#: Tab headers drawn from the theme's colours (Bokeh's own are fixed light greys).
TABS_CSS = """
.bk-header { border-bottom-color: var(--panel-border-color); }
.bk-tab { color: var(--panel-on-background-color); border-color: transparent; }
.bk-tab.bk-active { background-color: var(--panel-surface-color); color: var(--panel-on-surface-color);
  border-color: var(--panel-border-color); font-weight: 600; }
.bk-tab:focus-visible { outline: 2px solid var(--panel-primary-color); }
"""

#: The training table (Bokeh's DataTable, SlickGrid) in the theme's colours.
TABLE_CSS = """
:host { --cl-table-bg: var(--panel-background-color); --cl-table-fg: var(--panel-on-background-color); }
.slick-header-columns, .slick-header-column { background: var(--panel-surface-color) !important;
  color: var(--panel-on-surface-color) !important; border-color: var(--panel-border-color) !important;
  font-weight: 600; font-size: 13px; }
.slick-row { background: var(--cl-table-bg); color: var(--cl-table-fg); }
.slick-row.odd { background: var(--panel-surface-color); }
.slick-cell { border-color: var(--panel-border-color) !important; font-size: 13px; }
.slick-cell.selected, .slick-cell.active { background: var(--panel-border-color) !important; }
.slick-viewport, .slick-pane, .slick-pane-header, .bk-data-table, .grid-canvas {
  background: var(--cl-table-bg); color: var(--cl-table-fg); }
.slick-cell input, .slick-cell .bk-cell-editor { color: var(--cl-table-fg); background: var(--cl-table-bg);
  font-size: 13px; }
"""


#: The CSS strings served as shared per-document stylesheet models.
_SHARED_CSS = (AUTO_DARK_CSS, APP_CSS)
