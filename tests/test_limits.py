"""Rate limits: token buckets per connection and per address, and open-socket caps."""

from __future__ import annotations

from webapp.limits import AddressBuckets, ConnectionCounter, TokenBucket


class Clock:
    """A clock the test moves by hand, so bucket arithmetic is exact."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_token_bucket_allows_a_burst_then_the_rate():
    clock = Clock()
    bucket = TokenBucket(per_minute=60, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 1.0  # one token a second
    assert bucket.take() and not bucket.take()
    clock.now += 100.0  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_address_buckets_are_per_address_and_forget_idle_ones():
    clock = Clock()
    buckets = AddressBuckets(per_minute=6, clock=clock, prune_above=2)  # burst 1
    assert buckets.take("a") and not buckets.take("a")
    assert buckets.take("b")
    clock.now += 60.0  # both full again
    assert buckets.take("c")  # pruning forgot a and b, which were full
    assert set(buckets.buckets) == {"c"}


def test_connection_counter():
    counter = ConnectionCounter(limit=2)
    assert counter.acquire("a") and counter.acquire("a") and not counter.acquire("a")
    assert counter.acquire("b")
    counter.release("a")
    assert counter.acquire("a")


