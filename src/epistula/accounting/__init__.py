"""Usage accounting: a row per request and batch item, prices, monthly spend limits,
and the data behind the Admin API usage and cost reports.

Everything here hangs off the gate (:mod:`epistula.generation.gate`): :class:`UsageHook` records
what each admitted request consumed, :class:`SpendLimitHook` refuses requests of a
workspace whose month is spent. :class:`Accounting` wires them to the usage store.
"""

from __future__ import annotations

from .hooks import SpendLimitHook, UsageHook
from .pricing import PriceTable
from .records import TokenCounts, UsageRecord
from .service import Accounting

__all__ = ["Accounting", "PriceTable", "SpendLimitHook", "TokenCounts", "UsageHook", "UsageRecord"]
