"""Build the rate-limit hook from settings (None when no limits are configured)."""

from __future__ import annotations

from epistula.config import Settings
from epistula.errors import NotFoundError
from epistula.models.catalog import Catalog

from .backend import InProcessLimiter, LimiterBackend
from .hook import RateLimitHook
from .rules import RateLimitRules


def build_rate_limiter(settings: Settings, catalog: Catalog) -> RateLimitHook | None:
    if not settings.rate_limits:
        return None

    def served_id(model: str) -> str:
        try:
            return catalog.resolve(model).id
        except NotFoundError:
            return model  # a model not served (yet): the rule simply never matches

    backend: LimiterBackend
    if settings.redis_url:
        from .redis_backend import RedisLimiter

        backend = RedisLimiter(settings.redis_url, prefix=settings.redis_prefix)
    else:
        backend = InProcessLimiter()
    return RateLimitHook(RateLimitRules(settings.rate_limits, served_id), backend)
