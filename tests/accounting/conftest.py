"""A fake-engine server with an Admin API key, prices and one capped workspace, per
storage backend (SQLite always, PostgreSQL when ``EPISTULA_TEST_POSTGRES_URL`` is set)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from batches.support import BACKENDS, Live, backend_server

from .support import ADMIN_KEY, PRICES, SPEND_LIMIT_USD, SPEND_WORKSPACE


@pytest.fixture(scope="session", params=BACKENDS)
def acct_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with backend_server(
        request.param,
        tmp_path_factory.mktemp(f"accounting-{request.param}"),
        admin_api_key=ADMIN_KEY,
        prices=PRICES,
        spend_limits={SPEND_WORKSPACE: SPEND_LIMIT_USD},
    ) as live:
        yield live
