"""The state every tab of the calculator shares, and how it follows the URL.

One :class:`AppState` per session holds the inputs (a :class:`levers.Scenario`,
the :class:`levers.training.TrainingInputs`, price overrides, scenario B), the
view options (y axis, tab, theme, embed, the step shown in detail), the
engine's last results (the waterfall and the training table) and the URL
query. Each tab is a ``pn.viewable.Viewer`` that reads it and edits it; none
of them talks to another.

The engine runs here, whenever an input changes: a change it refuses is put
back, with its message as a notice. Nothing here imports Panel, so the state
can be driven and checked without a page.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack

import param
from param.parameterized import batch_call_watchers

import levers
from app import exports
from app.urlstate import (
    TRAIN_KEYS,
    VIEW_DEFAULTS,
    VIEW_PARAMS,
    Notice,
    base_scenario,
    build_query,
    describe_failure,
    parse_query,
    training_defaults,
)
from levers import presets, specs
from levers.errors import InputError
from levers.params import parse_value
from levers.scenario import LEVER_TITLES, LEVERS, Scenario
from levers.training import TrainingInputs

log = logging.getLogger(__name__)


def same_as_defaults() -> str:
    """The preset whose scenario is the engine's defaults ('' if none is): the
    preset list shows it once instead of also offering "Engine defaults"."""
    defaults = Scenario().values()
    return next((n for n in presets.names() if levers.load_preset(n).values() == defaults), "")


#: The steps one can look at in detail, by title.
STEPS = {("Baseline" if k == "baseline" else LEVER_TITLES[k]): k for k in ["baseline", *LEVERS]}


def _view(key: str) -> param.Parameter:
    """A state parameter declared like the URL's view option ``key`` (one declaration)."""
    p = VIEW_PARAMS[key]
    if isinstance(p, param.Boolean):
        return param.Boolean(default=p.default, doc=p.doc)
    return param.Selector(default=p.default, objects=list(p.objects), doc=p.doc)


class AppState(param.Parameterized):
    """Inputs, view options, the engine's last results and the URL of one session.

    Parameters
    ----------
    location
        ``pn.state.location`` when served (anything with ``search`` and
        ``href`` parameters): its ``search`` is written with the non-default
        keys on every change, and read when it changes from outside (Pyodide
        syncs it after the first render).
    """

    scenario = param.ClassSelector(class_=Scenario, constant=True, doc="the inputs (never replaced)")
    training = param.ClassSelector(class_=TrainingInputs, constant=True, doc="the training inputs")
    preset = param.String(default="", doc="preset the scenario started from ('' = engine defaults)")
    prices = param.Dict(default={}, doc="training price overrides [$/GPU-hour] by accelerator id")
    b = param.Dict(default={}, doc="scenario B's overrides on top of the scenario (Decide tab)")
    yaxis = _view("yaxis")
    embed = _view("embed")
    theme = _view("theme")
    tab = _view("tab")
    formula_step = param.Selector(default="hardware", objects=STEPS,
                                  doc="the step shown in detail (capacity, formulas)")
    wf = param.Parameter(doc="the engine's waterfall of the scenario (the last one it accepted)")
    rows = param.List(default=[], doc="the engine's training table (levers.TrainingRow)")
    query = param.String(default="", doc="the URL query for the current state")
    url_notices = param.List(default=[], doc="keys the URL asked for that were not applied")
    error_notices = param.List(default=[], doc="changes the engine refused (put back)")

    def __init__(self, location=None, **params):
        params.setdefault("scenario", Scenario())
        params.setdefault("training", TrainingInputs())
        super().__init__(**params)
        self.location = location
        self.default_preset = same_as_defaults()
        self.wf = levers.waterfall(self.scenario)
        self.rows = levers.training_table(**training_defaults())
        self._last_good = self.scenario.values()
        # After the widgets' links (precedence 1): a change the engine refuses is put
        # back last, so no link is left holding the refused value.
        self.scenario.param.watch(self._scenario_changed, Scenario.keys(), precedence=1)
        self.training.param.watch(lambda *e: self.recompute_training(), list(TRAIN_KEYS))
        self.param.watch(lambda e: self.recompute_training(), "prices")
        self.param.watch(lambda *e: self.sync_url(), ["preset", "b", *VIEW_DEFAULTS])
        if location is not None:
            location.param.watch(self._location_changed, "search")

    # ------------------------------------------------------------ URL
    def _batch(self):
        """Hold every watcher of the state and its inputs until the block ends, then
        call each once: the engine runs once for a whole new query or preset."""
        stack = ExitStack()
        for obj in (self, self.training, self.scenario):  # the scenario's watchers run first
            stack.enter_context(batch_call_watchers(obj))
        return stack

    def apply_query(self, search: str) -> None:
        """Reset everything to what ``search`` asks for (bad keys are reported, not applied)."""
        st = parse_query(search)
        with self._batch():
            self.scenario.param.update(**st.scenario.values())
            self.training.param.update(**{**training_defaults(), **st.training})
            self.param.update(preset=st.preset, prices=dict(st.prices), b=st.b, url_notices=st.notices,
                              error_notices=[], **st.view)
        self.sync_url()  # the address bar and share link drop what was not applied

    def _location_changed(self, event) -> None:
        if (event.new or "") != self.query:  # else our own write coming back
            self.apply_query(event.new or "")

    def current_query(self) -> str:
        """The query string for the current state (non-default keys only)."""
        view = {k: getattr(self, k) for k in VIEW_DEFAULTS}
        return build_query(self.preset, self.scenario, self.training_inputs(), self.prices, view, b=self.b)

    def sync_url(self) -> None:
        """Write the current state into ``query`` and the address bar (no reload)."""
        q = self.current_query()
        self.query = q
        if self.location is not None and self.location.search != q:
            self.location.search = q

    def page_url(self, query: str) -> str:
        """An absolute URL of this page with ``query``, when the location is known."""
        href = getattr(self.location, "href", "") or ""
        return href.split("#")[0].split("?")[0] + query

    # ------------------------------------------------------------ presets, files
    def load(self, preset: str) -> None:
        """Start over from ``preset`` ('' for the engine defaults)."""
        with self._batch():
            self.scenario.param.update(**base_scenario(preset).values())
            self.param.update(preset=preset, error_notices=[])

    def reset(self) -> None:
        """Back to the current preset (or the defaults), training inputs and prices included."""
        with self._batch():
            self.training.param.update(**training_defaults())
            self.prices = {}
            self.load(self.preset)

    def load_file(self, data: bytes | str) -> None:
        """Load a scenario JSON (as downloaded); a bad file is a notice, nothing changes."""
        try:
            preset, scenario = exports.load_scenario(data)
        except InputError as e:
            self.error_notices = [Notice(e.field, e.message)]
            return
        with self._batch():
            self.scenario.param.update(**scenario.values())
            self.param.update(preset=preset, error_notices=[])

    # ------------------------------------------------------------ the engine
    def _scenario_changed(self, *events) -> None:
        self.recompute()

    def recompute(self) -> None:
        """Run the engine on the scenario; keep its waterfall, or put back the last good inputs.

        A change the engine refuses (e.g. FP4 weights on a card without FP4, a
        model that does not fit) is reverted, with the engine's message shown.
        """
        try:
            wf = levers.waterfall(self.scenario)
        except InputError as e:
            self._revert(Notice(e.field, e.message))
            return
        except Exception as e:  # an engine failure must not blank the page
            log.exception("engine failed")
            self._revert(Notice("engine", f"could not compute this scenario ({type(e).__name__}: {e})"))
            return
        self._last_good = self.scenario.values()
        self.wf = wf
        self.sync_url()

    def _revert(self, notice: Notice) -> None:
        self.error_notices = [notice]
        if self.scenario.values() != self._last_good:
            self.scenario.param.update(**self._last_good)

    def recompute_training(self) -> None:
        """Rebuild the training table from the engine (a failure is a notice; the last rows stay)."""
        try:
            self.rows = levers.training_table(**self.training_inputs(), prices=self.prices)
        except Exception as e:  # any failure: a notice naming it, the last good rows kept
            self.error_notices = [describe_failure(e)]
            self.param.trigger("rows")  # views put the last good rows back
        self.sync_url()

    def set_price(self, hardware: str, value) -> None:
        """Set the training price of accelerator ``hardware`` (text or number)."""
        key = f"train.price.{hardware}"
        try:
            usd = parse_value(TrainingInputs.param["usd_per_gpu_hour"], key, value)
        except InputError as e:
            self.error_notices = [Notice(key, e.message)]
            self.param.trigger("rows")  # puts the old price back in the cell
            return
        new = dict(self.prices)
        if usd == specs.get(hardware).usd_per_hour:
            new.pop(hardware, None)
        else:
            new[hardware] = usd
        if new == self.prices:
            self.param.trigger("rows")  # the same price typed again: the cell shows the number
        else:
            self.prices = new

    def training_inputs(self) -> dict:
        """The training inputs as :func:`levers.training_table` takes them."""
        return {k: getattr(self.training, k) for k in TRAIN_KEYS}
