"""The engine stays pure Python: no Panel, Bokeh, numpy or pandas, no data read at import."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys, levers
assert levers.specs.load_all.cache_info().currsize == 0, "specs read at import"
assert levers.models.load_all.cache_info().currsize == 0, "models read at import"
w = levers.waterfall(levers.load_preset("chatbot"))
levers.training_table()
bad = sorted(m for m in sys.modules if m.split(".")[0] in {"panel", "bokeh", "numpy", "pandas"})
print(",".join(bad))
"""


def test_engine_imports_no_ui_or_numeric_libraries():
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_engine_sources_do_not_mention_ui_imports():
    from pathlib import Path

    import levers

    for path in Path(levers.__file__).parent.rglob("*.py"):
        text = path.read_text()
        for lib in ("panel", "bokeh", "numpy", "pandas"):
            assert f"import {lib}" not in text and f"from {lib}" not in text, path
