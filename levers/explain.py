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


def count(n: float) -> str:
    """A large count as people write it: 70B, 2T, 1.5M, 12k, 950."""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            v = n / div
            return f"{v:.0f}{suffix}" if v >= 100 or float(v).is_integer() else f"{v:.1f}{suffix}".replace(".0" + suffix, suffix)
    return f"{n:,.0f}" if float(n).is_integer() or abs(n) >= 10 else f"{n:.2g}"


def money_short(x: float) -> str:
    """Dollars in a few characters: $2.0M, $16.3k, $950, $0.58."""
    if abs(x) >= 1e3:
        for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(x) >= div:
                v = x / div
                return f"${v:.0f}{suffix}" if abs(v) >= 100 else f"${v:.1f}{suffix}"
    return money(x)


def ms(x: float) -> str:
    """A latency: 8.1 ms, 672 ms, 2.2 s, 70 s."""
    if abs(x) >= 10_000:
        return f"{x / 1e3:,.0f} s"
    if abs(x) >= 1_000:
        return f"{x / 1e3:.1f} s"
    return f"{x:.0f} ms" if abs(x) >= 10 else f"{x:.1f} ms"


def share(x: float) -> str:
    """A share as a percentage, keeping small shares visible: 80%, 0.5%."""
    return f"{x:.0%}" if abs(x) >= 0.01 or x == 0 else f"{x:.1%}"
