"""The Cost Levers calculator UI (Panel), on top of the ``levers`` engine.

``app/main.py`` is the entry point (``panel serve app/main.py``; compiled for
Pyodide by ``build.py``). The modules here do no arithmetic of their own:
every number shown comes from :mod:`levers`; this package only formats it.
"""
