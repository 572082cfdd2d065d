"""Integer ranges as GBNF: ``[lo, hi]`` becomes alternatives of digit classes,
so a schema's ``minimum``/``maximum`` is enforced by the grammar itself."""

from __future__ import annotations

MAX_DIGITS = 15


def _fill_by_nines(value: int, nines: int) -> int:
    text = str(value)
    if nines >= len(text):
        return int("9" * len(text))
    return int(text[:-nines] + "9" * nines)


def _fill_by_zeros(value: int, zeros: int) -> int:
    return int(value - value % 10**zeros)


def _split(lo: int, hi: int) -> list[int]:
    stops = {hi}
    nines = 1
    stop = _fill_by_nines(lo, nines)
    while lo <= stop < hi:
        stops.add(stop)
        nines += 1
        stop = _fill_by_nines(lo, nines)
    zeros = 1
    stop = _fill_by_zeros(hi + 1, zeros) - 1
    while lo < stop <= hi:
        stops.add(stop)
        zeros += 1
        stop = _fill_by_zeros(hi + 1, zeros) - 1
    return sorted(stops)


def _pattern(start: int, stop: int) -> str:
    a, b = str(start), str(stop)
    parts: list[str] = []
    for x, y in zip(a, b, strict=True):
        if x == y:
            parts.append(f'"{x}"')
        elif x == "0" and y == "9":
            parts.append("[0-9]")
        else:
            parts.append(f"[{x}-{y}]")
    return " ".join(parts)


def nonnegative_range(lo: int, hi: int) -> list[str]:
    """GBNF sequences matching exactly the decimal integers in ``[lo, hi]`` (``0 <= lo <= hi``)."""
    out: list[str] = []
    start = lo
    # Split across digit-count boundaries first, then use the classic range split.
    while start <= hi:
        width_max = 10 ** len(str(start)) - 1
        stop_group = min(hi, width_max)
        for stop in _split(start, stop_group):
            out.append(_pattern(start, stop))
            start = stop + 1
        start = stop_group + 1
    return out


def _at_least(lo: int) -> list[str]:
    """Non-negative integers ``>= lo`` (up to MAX_DIGITS digits)."""
    digits = len(str(lo))
    alts = nonnegative_range(lo, 10**digits - 1)
    if digits < MAX_DIGITS:
        alts.append(f"[1-9] [0-9]{{{digits},{MAX_DIGITS - 1}}}")
    return alts


def integer_grammar(minimum: int | None, maximum: int | None) -> str:
    """A GBNF expression for integers within the (inclusive) bounds."""
    any_positive = f"[0] | [1-9] [0-9]{{0,{MAX_DIGITS - 1}}}"
    any_negative = f'"-" [1-9] [0-9]{{0,{MAX_DIGITS - 1}}}'
    alts: list[str] = []
    if minimum is None and maximum is None:
        return f"({any_negative} | {any_positive})"
    if maximum is None:
        assert minimum is not None
        if minimum >= 0:
            alts = _at_least(minimum)
        else:
            alts = [f'"-" ({s})' for s in nonnegative_range(1, -minimum)] + [any_positive]
        return "(" + " | ".join(f"({a})" for a in alts) + ")"
    if minimum is None:
        if maximum >= 0:
            alts = [any_negative, *nonnegative_range(0, maximum)]
        else:
            alts = [f'"-" ({s})' for s in _at_least(-maximum)]
        return "(" + " | ".join(f"({a})" for a in alts) + ")"
    if minimum > maximum:
        raise ValueError(f"empty integer range [{minimum}, {maximum}]")
    if minimum >= 0:
        alts = nonnegative_range(minimum, maximum)
    elif maximum < 0:
        alts = [f'"-" ({s})' for s in nonnegative_range(-maximum, -minimum)]
    else:
        alts = [f'"-" ({s})' for s in nonnegative_range(1, -minimum)] + nonnegative_range(0, maximum)
    return "(" + " | ".join(f"({a})" for a in alts) + ")"
