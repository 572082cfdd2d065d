"""Integer ranges as GBNF: ``[lo, hi]`` becomes alternatives of digit classes,
so a schema's ``minimum``/``maximum`` is enforced by the grammar itself."""

from __future__ import annotations

import math
from typing import Any

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


def _at_least(lo: int, digits: int) -> list[str]:
    """Non-negative integers ``>= lo`` with at most ``digits`` digits."""
    width = len(str(lo))
    alts = nonnegative_range(lo, 10**width - 1)
    if width < digits:
        alts.append(f"[1-9] [0-9]{{{width},{digits - 1}}}")
    return alts


def _alternatives(alts: list[str]) -> str:
    return "(" + " | ".join(f"({a})" for a in alts) + ")"


def integer_grammar(minimum: int | None, maximum: int | None, digits: int = MAX_DIGITS) -> str:
    """A GBNF expression for the integers of at most ``digits`` digits within the
    (inclusive) bounds; the caller keeps the bounds within ``10**digits - 1``."""
    any_positive = f"[0] | [1-9] [0-9]{{0,{digits - 1}}}"
    any_negative = f'"-" [1-9] [0-9]{{0,{digits - 1}}}'
    if minimum is None and maximum is None:
        return f"({any_negative} | {any_positive})"
    if maximum is None:
        assert minimum is not None
        if minimum >= 0:
            return _alternatives(_at_least(minimum, digits))
        return _alternatives([f'"-" ({s})' for s in nonnegative_range(1, -minimum)] + [any_positive])
    if minimum is None:
        if maximum >= 0:
            return _alternatives([any_negative, *nonnegative_range(0, maximum)])
        return _alternatives([f'"-" ({s})' for s in _at_least(-maximum, digits)])
    if minimum > maximum:
        raise ValueError(f"empty integer range [{minimum}, {maximum}]")
    if minimum >= 0:
        alts = nonnegative_range(minimum, maximum)
    elif maximum < 0:
        alts = [f'"-" ({s})' for s in nonnegative_range(-maximum, -minimum)]
    else:
        alts = [f'"-" ({s})' for s in nonnegative_range(1, -minimum)] + nonnegative_range(0, maximum)
    return _alternatives(alts)


# -- bounds from a schema ---------------------------------------------------------


def _tighter(schema: dict[str, Any], inclusive: str, exclusive: str, pick: Any) -> tuple[float, bool] | None:
    """The tighter of a schema's inclusive and exclusive bound, as (value, is_exclusive)."""
    found = [(schema[k], k == exclusive) for k in (inclusive, exclusive) if k in schema]
    if not found:
        return None
    best = pick(v for v, _ in found)
    return best, any(excl for v, excl in found if v == best)


def bounds(schema: dict[str, Any]) -> tuple[tuple[float, bool] | None, tuple[float, bool] | None]:
    """``(lower, upper)`` from ``minimum``/``exclusiveMinimum``/``maximum``/``exclusiveMaximum``
    (numeric form; finite numbers, checked before)."""
    return (
        _tighter(schema, "minimum", "exclusiveMinimum", max),
        _tighter(schema, "maximum", "exclusiveMaximum", min),
    )


def _least_int(bound: tuple[float, bool] | None) -> int | None:
    if bound is None:
        return None
    value, exclusive = bound
    return math.floor(value) + 1 if exclusive else math.ceil(value)


def _greatest_int(bound: tuple[float, bool] | None) -> int | None:
    if bound is None:
        return None
    value, exclusive = bound
    return math.ceil(value) - 1 if exclusive else math.floor(value)


def _clamped(lo: int | None, hi: int | None, digits: int) -> tuple[int | None, int | None] | None:
    """``[lo, hi]`` as grammar bounds: a bound beyond what ``digits`` digits can write is
    dropped (the grammar cannot exceed it anyway); None if no writable integer is in range."""
    cap = 10**digits - 1
    if (lo is not None and lo > cap) or (hi is not None and hi < -cap):
        return None
    lo = None if lo is not None and lo < -cap else lo
    hi = None if hi is not None and hi > cap else hi
    if lo is not None and hi is not None and lo > hi:
        return None
    return lo, hi


def bounded_integer(schema: dict[str, Any], digits: int = MAX_DIGITS) -> str:
    """The integers that satisfy the schema's bounds; ValueError if there are none."""
    lower, upper = bounds(schema)
    span = _clamped(_least_int(lower), _greatest_int(upper), digits)
    if span is None:
        raise ValueError(f"no integer of at most {digits} digits satisfies the bounds")
    return integer_grammar(*span, digits)


DECIMAL_DIGITS = (9, 6)
"""Integer and fraction digits of a bounded number's decimals: 15 significant digits at
most, so parsing one as a double never rounds it onto or past a bound."""


def bounded_number(schema: dict[str, Any], digits: int = MAX_DIGITS) -> str:
    """Numbers within the schema's bounds: the integers in range, plus decimals ``I.F``
    whose whole interval ``[I, I+1)`` lies within them (no exponent). A sound subset: a
    fraction below the first whole number in range (``0.7`` for ``minimum: 0.5``) is not
    produced."""
    lower, upper = bounds(schema)
    lo, hi = _least_int(lower), _greatest_int(upper)
    alts: list[str] = []
    span = _clamped(lo, hi, digits)
    if span is not None:
        alts.append(integer_grammar(*span, digits))
    whole, fraction = DECIMAL_DIGITS
    tail = f'"." [0-9]{{1,{fraction}}}'
    # x = I.F >= 0: I itself must satisfy the lower bound and I + 1 <= upper.
    positive = _clamped(max(lo or 0, 0), None if upper is None else math.floor(upper[0]) - 1, whole)
    if positive is not None:
        alts.append(f"{integer_grammar(*positive, whole)} {tail}")
    # x = -I.F: -I must satisfy the upper bound and -(I + 1) >= lower.
    negative = _clamped(
        max(0, -hi) if hi is not None else 0, None if lower is None else math.floor(-lower[0]) - 1, digits
    )
    if negative is not None:
        alts.append(f'"-" {integer_grammar(*negative, digits)} {tail}')
    if not alts:
        raise ValueError(f"no number of at most {digits} integer digits satisfies the bounds")
    return "(" + " | ".join(alts) + ")"
