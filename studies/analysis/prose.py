"""Numbers in running text: the sentences, the reasons for a test, the conclusions and the
charts' descriptions (DESIGN.md section 7).

SPSS's tables print a number below 1 without its leading zero (".50", ",012"), and the tables
keep that (:func:`studies.analysis.format_spss`). A sentence writes a number as a number:
"0.50" in English, "0,50" in Indonesian, "−2.670" with the minus sign, with the same rounding
and decimals as the table beside it, so a figure read in a sentence is the figure of the table.
Pure: no Django.
"""

from __future__ import annotations

from studies.analysis import Number, format_spss

__all__ = ["format_alpha_in_text", "format_in_text", "format_p_in_text"]

# Below this a p prints as .000 in SPSS's tables; a sentence says "p < 0.001", never p = 0.
P_FLOOR = 0.0005


# A negative number in a sentence takes the minus sign (U+2212), as the labels beside it do
# ("Sesudah − Sebelum"); the tables keep SPSS's hyphen-minus ("-2,670").
MINUS = "\u2212"


def format_in_text(value: Number | None, places: int, *, decimal_separator: str = ".") -> str:
    """``value`` rounded as SPSS rounds it, with its leading zero and the minus sign: 0.5 ->
    "0.50", -0.4471 -> "−0.447" (3 places), 12.5 -> "12.50"; "" for None."""
    text = format_spss(value, places, decimal_separator=decimal_separator)
    sign, digits = (MINUS, text[1:]) if text.startswith("-") else ("", text)
    if places > 0 and digits.startswith(decimal_separator):
        digits = "0" + digits
    return sign + digits


def format_p_in_text(p: float | None, *, decimal_separator: str = ".", name: str = "p") -> str:
    """A p in a sentence: "p = 0.012", or "p < 0.001" where SPSS's table prints .000 (never
    p = 0); "p = —" when there is no p. ``name`` is the p's name in the sentence ("exact p")."""
    if p is None:
        return f"{name} = —"
    if p < P_FLOOR:
        return f"{name} < " + format_in_text(0.001, 3, decimal_separator=decimal_separator)
    return f"{name} = " + format_in_text(p, 3, decimal_separator=decimal_separator)


def format_alpha_in_text(alpha: float, *, decimal_separator: str = ".") -> str:
    """The significance level as the study defines it, without trailing zeros: "0.05",
    "0.025"."""
    text = f"{alpha:.3f}".rstrip("0").rstrip(".")
    return text.replace(".", decimal_separator)
