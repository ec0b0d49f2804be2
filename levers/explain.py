"""Number formatting for explanations (plain words, the numbers that matter)."""

from __future__ import annotations


def money(x: float) -> str:
    """$1,234 above $100, $12.34 below."""
    return f"${x:,.0f}" if abs(x) >= 100 else f"${x:,.2f}"


def pct(x: float) -> str:
    """A share as a whole percentage (0.8 -> 80%)."""
    return f"{x * 100:.0f}%"


def tokens(n: float) -> str:
    """A token count with thousands separators."""
    return f"{n:,.0f}"


def times(m: float) -> str:
    """A multiplier as the lesson writes it: ÷2.4 for a saving, ×1.2 for a rise."""
    if m >= 1:
        return f"÷{m:.2g}" if m < 10 else f"÷{m:.0f}"
    return f"×{1 / m:.2g}"


def gpus(n: int) -> str:
    """"1 GPU", "5 GPUs"."""
    return f"{n} GPU" if n == 1 else f"{n} GPUs"
