"""The shared backend: buckets in Redis, every update one Lua script run server-side.

Redis runs a script atomically, so check-and-take over several buckets cannot interleave
with another replica's (no read-then-write from Python), and the script reads Redis's own
clock (``TIME``), so replicas with skewed clocks still agree. A bucket is a hash
``{level, ts}`` that expires once it would be full again (a missing bucket reads as full).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .backend import Demand, Take

_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local take = ARGV[1] == 'take'
local n = #KEYS
local caps, rates, amounts, levels = {}, {}, {}, {}
local wait = 0
for i = 1, n do
  local cap = tonumber(ARGV[3 * i - 1])
  local rate = cap / tonumber(ARGV[3 * i])
  local amount = tonumber(ARGV[3 * i + 1])
  local level = cap
  local saved = redis.call('HMGET', KEYS[i], 'level', 'ts')
  if saved[1] then
    level = math.min(cap, tonumber(saved[1]) + math.max(0, now - tonumber(saved[2])) * rate)
  end
  caps[i], rates[i], amounts[i], levels[i] = cap, rate, amount, level
  if take then
    local short = math.min(amount, cap) - level
    if short > 0 then wait = math.max(wait, short / rate) end
  end
end
local granted = wait == 0
if granted then
  for i = 1, n do
    local level = math.min(caps[i], levels[i] - amounts[i])
    levels[i] = level
    redis.call('HSET', KEYS[i], 'level', string.format('%.17g', level), 'ts', string.format('%.17g', now))
    redis.call('PEXPIRE', KEYS[i], math.ceil((caps[i] - level) / rates[i] * 1000) + 1000)
  end
end
local out = {granted and 1 or 0, string.format('%.17g', wait), string.format('%.17g', now)}
for i = 1, n do out[#out + 1] = string.format('%.17g', levels[i]) end
return out
"""


class RedisLimiter:
    """Token buckets shared by every replica pointing at one Redis (``redis_url``)."""

    def __init__(self, url: str, *, prefix: str = "epistula:") -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("redis_url needs the 'redis' package: pip install 'epistula[redis]'") from exc
        # Short timeouts: a hung Redis must cost a request seconds, not minutes (the hook then admits).
        self._client: Any = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._script: Any = self._client.register_script(_SCRIPT)
        self._prefix = prefix + "ratelimit:"

    async def _run(self, mode: str, demands: Sequence[Demand]) -> Take:
        args: list[str] = [mode]
        for d in demands:
            args += [str(d.capacity), repr(float(d.window)), repr(float(d.amount))]
        raw = await self._script(keys=[self._prefix + d.key for d in demands], args=args)
        granted, wait, now, *levels = raw
        return Take(
            granted=int(granted) == 1,
            levels=tuple(float(v) for v in levels),
            wait=float(wait),
            now=float(now),
        )

    async def take(self, demands: Sequence[Demand]) -> Take:
        return await self._run("take", demands)

    async def charge(self, demands: Sequence[Demand]) -> None:
        if demands:
            await self._run("charge", demands)

    async def close(self) -> None:
        await self._client.aclose()
