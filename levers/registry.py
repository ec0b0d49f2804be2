"""The levers, in the order they are pulled: the one list everything derives from.

The waterfall, the scenario's ``off`` choices and illustrative ``mult_<id>``
inputs, the CLI, the share URL and the app's cards all read this tuple. A
lever is a module with ``ID``, ``TITLE``, ``SHORT``, ``INPUTS`` (its scenario
keys, declared in :mod:`levers.scenario`), ``ILLUSTRATIVE``, ``apply(cfg, s)``
and ``explain(before, after, s)``; adding one is a new module and one line
here.
"""

from __future__ import annotations

from . import batching, hardware, prefix_caching, quantization, routing

REGISTRY = (
    prefix_caching,
    batching,
    routing,
    quantization,
    hardware,
)

BY_ID = {m.ID: m for m in REGISTRY}
