"""Number formatting for explanations (plain words, the numbers that matter)."""

from __future__ import annotations


def money(x: float) -> str:
    """$1,234 above $100, $12.34 below."""
    return f"${x:,.0f}" if abs(x) >= 100 else f"${x:,.2f}"


def num(x: float, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals: 1,234 / 12.3."""
    return f"{x:,.{digits}f}"


def sig(x: float, digits: int = 3, sign: str = "") -> str:
    """A number to ``digits`` significant figures with thousands separators:
    1,234,567 / 12.3 / 0.0123 / 1.23e-05; ``sign="+"`` also signs positive numbers."""
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:{sign},.0f}"
    return f"{x:{sign},.{digits}g}" if abs(x) >= 1e-3 else f"{x:{sign}.2e}"


def pct(x: float) -> str:
    """A share as a percentage: whole above 1% (0.8 -> 80%), one decimal
    below (0.005 -> 0.5%), so a small non-zero share never reads 0%."""
    x = x + 0.0  # -0.0 -> 0.0
    return f"{x:.0%}" if abs(x) >= 0.01 or x == 0 else f"{x:.1%}"


def tokens(n: float) -> str:
    """A token count with thousands separators."""
    return f"{n:,.0f}"


def times(m: float) -> str:
    """A multiplier as the lesson writes it: ÷2.4 for a saving, "×1.25, costs
    more" for a rise (``m`` is cost before over cost after). Digits are added
    until a change never reads as ÷1 or ×1; exactly 1 is "÷1"."""
    if m == 1:
        return "÷1"
    x = m if m > 1 else 1 / m
    text = f"{x:.0f}" if x >= 10 else f"{x:.2g}"
    digits = 3
    while float(text) == 1 and digits < 8:
        text = f"{x:.{digits}g}"
        digits += 1
    return f"÷{text}" if m > 1 else f"×{text}, costs more"


def gpus(n: int) -> str:
    """"1 GPU", "5 GPUs"."""
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


def count(n: float) -> str:
    """A large count as people write it: 70B, 2T, 1.5M, 12k, 950."""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            v = n / div
            text = f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}".removesuffix(".0")
            return text + suffix
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


def ms_short(x: float) -> str:
    """A latency in at most four characters where it can, for a narrow column:
    8ms, 80ms, 0.7s, 8.7s, 70s (below 10 ms one decimal: 8.1ms)."""
    if abs(x) >= 9_950:
        return f"{x / 1e3:.0f}s"
    if abs(x) >= 99.5:
        return f"{x / 1e3:.1f}s"
    return f"{x:.0f}ms" if abs(x) >= 10 else f"{x:.1f}ms"

