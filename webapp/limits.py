"""Rate limits: token buckets per connection and per client address, and open-socket caps.

A token bucket holds at most ``burst`` tokens and gains ``per_minute / 60`` tokens a
second; each action takes one token or is refused.  It lets a person teach in quick
bursts while capping what a script can do over a minute, and needs two numbers and a
timestamp per bucket, no history.

The trade-off: the limits live in each worker process's memory, so with W gunicorn
workers one address can reach up to W times a per-address limit.  Sharing them would
need the database on every message; a per-worker bound is enough to stop a single
client from slowing everybody down, and the per-connection limits are exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from webapp.blocking import loop_lock


class TokenBucket:
    """A bucket of ``burst`` tokens refilled at ``per_minute`` tokens a minute."""

    def __init__(self, per_minute: float, burst: float,
                 clock: Callable[[], float] = time.monotonic):
        if per_minute <= 0 or burst < 1:
            raise ValueError("a token bucket needs per_minute > 0 and burst >= 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def __repr__(self) -> str:
        return (f"TokenBucket(rate={self.rate:.3f}/s, burst={self.burst:g}, "
                f"tokens={self.tokens:.2f})")

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self) -> bool:
        """Take one token and return True, or return False if the bucket is empty."""
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def is_full(self) -> bool:
        """Return True if the bucket has refilled completely (it is as good as new)."""
        self._refill()
        return self.tokens >= self.burst


def burst_for(per_minute: float) -> float:
    """Return the burst allowed for a per-minute rate: ten seconds' worth, at least 1."""
    return max(1.0, per_minute / 6.0)


class AddressBuckets:
    """One token bucket per client address, thread-safe, with idle buckets forgotten."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 prune_above: int = 10_000):
        self.per_minute = per_minute
        self.clock = clock
        self.prune_above = prune_above
        self.buckets: dict[str, TokenBucket] = {}
        self.lock = loop_lock()

    def __repr__(self) -> str:
        return f"AddressBuckets(per_minute={self.per_minute:g}, addresses={len(self.buckets)})"

    def take(self, address: str) -> bool:
        """Take a token from ``address``'s bucket; False means the address is over its limit."""
        with self.lock:
            bucket = self.buckets.get(address)
            if bucket is None:
                if len(self.buckets) >= self.prune_above:
                    self._prune()
                bucket = TokenBucket(self.per_minute, burst_for(self.per_minute), self.clock)
                self.buckets[address] = bucket
            return bucket.take()

    def _prune(self) -> None:
        # A full bucket behaves exactly like a new one, so forgetting it changes nothing;
        # this bounds memory by the number of addresses active in the last burst period.
        for address in [a for a, b in self.buckets.items() if b.is_full()]:
            del self.buckets[address]


class ConnectionCounter:
    """Counts open WebSockets per client address and refuses more than ``limit``."""

    def __init__(self, limit: int):
        self.limit = limit
        self.open: dict[str, int] = {}
        self.lock = loop_lock()

    def __repr__(self) -> str:
        return f"ConnectionCounter(limit={self.limit}, open={sum(self.open.values())})"

    def acquire(self, address: str) -> bool:
        """Count one more connection from ``address``, or return False if it is at the limit."""
        with self.lock:
            n = self.open.get(address, 0)
            if n >= self.limit:
                return False
            self.open[address] = n + 1
            return True

    def release(self, address: str) -> None:
        """Count one connection from ``address`` fewer."""
        with self.lock:
            n = self.open.get(address, 0) - 1
            if n > 0:
                self.open[address] = n
            else:
                self.open.pop(address, None)


class RateLimits:
    """Every rate limit of one app, built from its config; ``enabled`` False lets all pass."""

    def __init__(self, config, clock: Callable[[], float] = time.monotonic):
        self.enabled = bool(config["RATE_LIMITS"])
        self.clock = clock
        self.teaches_per_connection = float(config["TEACHES_PER_MINUTE_PER_CONNECTION"])
        self.teaches_by_address = AddressBuckets(
            float(config["TEACHES_PER_MINUTE_PER_ADDRESS"]), clock)
        self.predicts_by_address = AddressBuckets(
            float(config["PREDICTS_PER_MINUTE_PER_ADDRESS"]), clock)
        self.connections = ConnectionCounter(int(config["CONNECTIONS_PER_ADDRESS"]))

    def __repr__(self) -> str:
        return (f"RateLimits(enabled={self.enabled}, "
                f"teaches_per_connection={self.teaches_per_connection:g}/min, "
                f"{self.teaches_by_address}, {self.connections})")

    def connection_bucket(self) -> TokenBucket:
        """Return a fresh teach bucket for one new connection."""
        rate = self.teaches_per_connection
        return TokenBucket(rate, burst_for(rate), self.clock)

    def allow_teach(self, address: str, bucket: TokenBucket) -> bool:
        """Return True if this connection and its address may teach once more now."""
        if not self.enabled:
            return True
        # The connection's own bucket first, so one greedy tab does not drain the
        # address's allowance that other people behind the same address share.
        return bucket.take() and self.teaches_by_address.take(address)

    def allow_predict(self, address: str) -> bool:
        """Return True if ``address`` may make one more HTTP prediction now."""
        return not self.enabled or self.predicts_by_address.take(address)

    def open_connection(self, address: str) -> bool:
        """Count a new WebSocket from ``address``; False if it already has the maximum open."""
        if not self.enabled:
            return True
        return self.connections.acquire(address)

    def close_connection(self, address: str) -> None:
        """Count a WebSocket from ``address`` as closed (after a successful open_connection)."""
        if self.enabled:
            self.connections.release(address)
