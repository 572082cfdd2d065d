"""Prices: what a usage costs, per token type, in exact decimal cents.

Prices are USD per million tokens (how the real API publishes them); the cost report
speaks in cents as decimal strings, so every amount here is a :class:`~decimal.Decimal`
in cents -- never a float, so that per-request costs add up exactly to report totals.
Cache prices not configured follow the real multipliers of the input price (5-minute
writes 1.25x, 1-hour writes 2x, reads 0.1x); batch usage gets ``batch_discount`` off.

Costs are computed when asked (reports, spend checks) from stored token counts and the
configured prices, so a price change applies to past usage too.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from epistula.config import ModelPrice, Settings

from .records import TokenCounts

CACHE_WRITE_5M_MULTIPLIER = Decimal("1.25")
CACHE_WRITE_1H_MULTIPLIER = Decimal("2")
CACHE_READ_MULTIPLIER = Decimal("0.1")
_CENTS_PER_MTOK = Decimal(100) / Decimal(1_000_000)
EXACT = decimal.Context(prec=60)

TokenType = str
TOKEN_TYPES: tuple[tuple[TokenType, str], ...] = (
    ("uncached_input_tokens", "Input Tokens"),
    ("output_tokens", "Output Tokens"),
    ("cache_read_input_tokens", "Input Tokens, Cache Read"),
    ("cache_creation.ephemeral_5m_input_tokens", "Input Tokens, Cache Write (5m)"),
    ("cache_creation.ephemeral_1h_input_tokens", "Input Tokens, Cache Write (1h)"),
)
"""The cost report's ``token_type`` values, with the words its descriptions use."""


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """USD per million tokens of each type, cache prices resolved."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal

    @classmethod
    def from_config(cls, price: ModelPrice) -> UnitPrices:
        return cls(
            input=price.input,
            output=price.output,
            cache_write_5m=_or(price.cache_write_5m, price.input * CACHE_WRITE_5M_MULTIPLIER),
            cache_write_1h=_or(price.cache_write_1h, price.input * CACHE_WRITE_1H_MULTIPLIER),
            cache_read=_or(price.cache_read, price.input * CACHE_READ_MULTIPLIER),
        )

    def per_type(self, tokens: TokenCounts) -> list[tuple[TokenType, int, Decimal]]:
        """``(token_type, tokens, usd_per_mtok)`` for every token type."""
        return [
            ("uncached_input_tokens", tokens.uncached_input_tokens, self.input),
            ("output_tokens", tokens.output_tokens, self.output),
            ("cache_read_input_tokens", tokens.cache_read_input_tokens, self.cache_read),
            ("cache_creation.ephemeral_5m_input_tokens", tokens.cache_creation_5m_input_tokens, self.cache_write_5m),
            ("cache_creation.ephemeral_1h_input_tokens", tokens.cache_creation_1h_input_tokens, self.cache_write_1h),
        ]


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


class PriceTable:
    """Prices by served model id, a default for the rest, and the batch discount."""

    def __init__(
        self,
        prices: Mapping[str, ModelPrice] | None = None,
        *,
        default: ModelPrice | None = None,
        batch_discount: Decimal = Decimal("0.5"),
    ) -> None:
        if not Decimal(0) <= batch_discount <= Decimal(1):
            raise ValueError("batch_discount must be between 0 and 1")
        self._prices = {model: UnitPrices.from_config(p) for model, p in (prices or {}).items()}
        self._default = UnitPrices.from_config(default or ModelPrice())
        self.batch_discount = batch_discount

    @classmethod
    def from_settings(cls, settings: Settings, resolve: Callable[[str], str] | None = None) -> PriceTable:
        """``resolve`` maps a configured name (an alias) to the served model id; names it
        cannot resolve are kept as they are."""
        prices = dict(settings.prices)
        for name, price in settings.prices.items():
            if resolve is None:
                break
            try:
                model = resolve(name)
            except Exception:
                continue
            prices.setdefault(model, price)  # a price set for the served id itself wins
        return cls(prices, default=settings.default_price, batch_discount=settings.batch_discount)

    def unit(self, model: str) -> UnitPrices:
        return self._prices.get(model, self._default)

    def multiplier(self, service_tier: str) -> Decimal:
        return Decimal(1) - self.batch_discount if service_tier == "batch" else Decimal(1)

    def line_items(self, model: str, service_tier: str, tokens: TokenCounts) -> list[tuple[TokenType, int, Decimal]]:
        """``(token_type, tokens, cents)`` for every token type of ``tokens``."""
        factor = self.multiplier(service_tier)
        return [
            (kind, n, EXACT.multiply(EXACT.multiply(EXACT.multiply(Decimal(n), price), _CENTS_PER_MTOK), factor))
            for kind, n, price in self.unit(model).per_type(tokens)
        ]

    def cost_cents(self, model: str, service_tier: str, tokens: TokenCounts) -> Decimal:
        total = Decimal(0)
        for _, _, cents in self.line_items(model, service_tier, tokens):
            total = EXACT.add(total, cents)
        return total


def format_cents(amount: Decimal) -> str:
    """A decimal string without exponent or trailing zeros (``"0.0375"``, ``"12"``)."""
    text = format(amount.normalize(EXACT), "f")
    return "0" if text in {"-0", ""} else text


def description(model: str, service_tier: str, token_type: TokenType) -> str:
    """The cost report's line-item text, e.g. ``smollm2 Usage - Input Tokens, Cache Read``."""
    words = dict(TOKEN_TYPES)[token_type]
    suffix = " (Batch)" if service_tier == "batch" else ""
    return f"{model} Usage - {words}{suffix}"
