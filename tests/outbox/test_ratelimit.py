import time

from bcp_service.outbox.ratelimit import SharedRateLimiter


async def test_shared_bucket_holds_the_rate_across_limiters(factory):
    # Two limiters on one row behave like two workers on two machines.
    first = SharedRateLimiter(factory, rate=200)
    second = SharedRateLimiter(factory, rate=200)
    taken = 0
    started = time.monotonic()
    while taken < 300:
        taken += await first.acquire(20)
        taken += await second.acquire(20)
    elapsed = time.monotonic() - started
    # The bucket starts full (half a second's worth), so 300 tokens need about one second more.
    expected = (taken - first.burst) / 200
    assert expected * 0.9 <= elapsed <= expected + 0.6, (taken, elapsed)


async def test_unused_tokens_are_kept_briefly(factory):
    limiter = SharedRateLimiter(factory, rate=10)
    granted = await limiter.acquire(1)
    assert granted == 1
    limiter.give_back(1)
    assert await limiter.acquire(5) >= 1
