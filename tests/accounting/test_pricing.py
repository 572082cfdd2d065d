"""Prices and billed tokens: exact decimal cents, the real cache multipliers, the batch
discount. Expected amounts are worked out by hand in each test."""

from __future__ import annotations

from decimal import Decimal

import pytest

from epistula.accounting.hooks import billed_tokens
from epistula.accounting.pricing import PriceTable, description, format_cents
from epistula.accounting.records import TokenCounts, context_window
from epistula.config import ModelPrice, Settings
from epistula.protocol.usage import CacheCreation, Usage

SONNET = ModelPrice(input=Decimal(3), output=Decimal(15))
TOKENS = TokenCounts(
    uncached_input_tokens=1_000_000,
    output_tokens=1_000_000,
    cache_read_input_tokens=1_000_000,
    cache_creation_5m_input_tokens=1_000_000,
    cache_creation_1h_input_tokens=1_000_000,
)


def test_cache_prices_follow_the_real_multipliers() -> None:
    table = PriceTable({"m": SONNET})
    items = {kind: cents for kind, _, cents in table.line_items("m", "standard", TOKENS)}
    # $3 / MTok input: reads 0.1x = $0.30, 5m writes 1.25x = $3.75, 1h writes 2x = $6.
    assert items == {
        "uncached_input_tokens": Decimal(300),
        "output_tokens": Decimal(1500),
        "cache_read_input_tokens": Decimal(30),
        "cache_creation.ephemeral_5m_input_tokens": Decimal(375),
        "cache_creation.ephemeral_1h_input_tokens": Decimal(600),
    }
    assert table.cost_cents("m", "standard", TOKENS) == Decimal(2805)


def test_configured_cache_prices_override_the_multipliers() -> None:
    price = ModelPrice(input=Decimal(1), output=Decimal(2), cache_read=Decimal("0.5"), cache_write_1h=Decimal(7))
    table = PriceTable({"m": price})
    items = {kind: cents for kind, _, cents in table.line_items("m", "standard", TOKENS)}
    assert items["cache_read_input_tokens"] == Decimal(50)
    assert items["cache_creation.ephemeral_1h_input_tokens"] == Decimal(700)
    assert items["cache_creation.ephemeral_5m_input_tokens"] == Decimal(125)  # still 1.25x input


def test_batch_usage_is_discounted() -> None:
    table = PriceTable({"m": SONNET})
    assert table.cost_cents("m", "batch", TOKENS) == Decimal("1402.5")
    half_off = PriceTable({"m": SONNET}, batch_discount=Decimal("0.25"))
    assert half_off.cost_cents("m", "batch", TOKENS) == Decimal("2103.75")
    with pytest.raises(ValueError):
        PriceTable(batch_discount=Decimal("1.5"))


def test_small_amounts_are_exact_and_add_up() -> None:
    """One token at $3/MTok is 0.0003 cents; a million such costs sum without rounding."""
    table = PriceTable({"m": SONNET})
    one = table.cost_cents("m", "standard", TokenCounts(uncached_input_tokens=1))
    assert one == Decimal("0.0003")
    total = sum((one for _ in range(1_000)), Decimal(0))
    assert total == table.cost_cents("m", "standard", TokenCounts(uncached_input_tokens=1_000))
    cheap = PriceTable({"m": ModelPrice(input=Decimal("0.08"))})
    assert cheap.cost_cents("m", "standard", TokenCounts(cache_read_input_tokens=7)) == Decimal("0.0000056")


def test_unlisted_models_cost_the_default_price() -> None:
    assert PriceTable().cost_cents("anything", "standard", TOKENS) == Decimal(0)
    table = PriceTable({"m": SONNET}, default=ModelPrice(input=Decimal(1)))
    assert table.cost_cents("other", "standard", TokenCounts(uncached_input_tokens=10_000)) == Decimal(1)


def test_settings_prices_by_alias_resolve_to_the_served_model() -> None:
    settings = Settings(
        engine="fake",
        prices={"claude-haiku-4-5": {"input": 1, "output": 5}, "served-b": {"input": 2}},
        batch_discount="0.5",
    )
    aliases = {"claude-haiku-4-5": "served-a", "served-b": "served-b"}
    table = PriceTable.from_settings(settings, resolve=lambda name: aliases[name])
    assert table.unit("served-a").output == Decimal(5)
    assert table.unit("claude-haiku-4-5").output == Decimal(5)
    assert table.unit("served-b").input == Decimal(2)


def test_env_style_prices_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPISTULA_PRICES", '{"m": {"input": "0.8", "output": "4"}}')
    monkeypatch.setenv("EPISTULA_SPEND_LIMITS", '{"wrkspc_a": "12.5"}')
    settings = Settings(engine="fake")
    assert settings.prices["m"].input == Decimal("0.8")
    assert settings.spend_limits == {"wrkspc_a": Decimal("12.5")}


def test_format_cents() -> None:
    assert format_cents(Decimal("0.00030")) == "0.0003"
    assert format_cents(Decimal("1500")) == "1500"
    assert format_cents(Decimal(0)) == "0"
    assert format_cents(Decimal("0.0000056")) == "0.0000056"
    assert description("m", "batch", "cache_read_input_tokens") == "m Usage - Input Tokens, Cache Read (Batch)"


def test_billed_tokens_split_cache_writes() -> None:
    usage = Usage(
        input_tokens=10,
        output_tokens=4,
        cache_read_input_tokens=100,
        cache_creation_input_tokens=50,
        cache_creation=CacheCreation(ephemeral_5m_input_tokens=20, ephemeral_1h_input_tokens=30),
    )
    assert billed_tokens(usage, batch=False, outcome="succeeded") == TokenCounts(10, 4, 100, 20, 30)
    unsplit = Usage(input_tokens=1, output_tokens=1, cache_creation_input_tokens=9)
    assert billed_tokens(unsplit, batch=False, outcome="succeeded").cache_creation_5m_input_tokens == 9


def test_billed_tokens_of_unfinished_requests() -> None:
    usage = Usage(input_tokens=10, output_tokens=4)
    assert billed_tokens(usage, batch=False, outcome="canceled") == TokenCounts(10, 4)  # live: pays what it used
    assert billed_tokens(usage, batch=True, outcome="errored") == TokenCounts()  # batch: no result, no bill
    assert billed_tokens(None, batch=False, outcome="errored") == TokenCounts()


def test_context_window_class() -> None:
    assert context_window(TokenCounts(uncached_input_tokens=199_999)) == "0-200k"
    assert context_window(TokenCounts(uncached_input_tokens=100_000, cache_read_input_tokens=100_000)) == "200k-1M"
