"""A fake-engine server with an Admin API key, prices and one capped workspace, per
storage backend (SQLite always, PostgreSQL when ``EPISTULA_TEST_POSTGRES_URL`` is set)."""

from __future__ import annotations

from batches.support import backend_fixture

from .support import ADMIN_KEY, PRICES, SPEND_LIMIT_USD, SPEND_WORKSPACE

acct_server = backend_fixture(
    "acct_server",
    "accounting",
    admin_api_key=ADMIN_KEY,
    prices=PRICES,
    spend_limits={SPEND_WORKSPACE: SPEND_LIMIT_USD},
)
