"""Rate limits on SQLite and PostgreSQL: one window per partner and minute, shared by every replica."""

from __future__ import annotations

from datetime import timedelta

from partner_factories import Clock

from partners import RateLimiter


def test_rate_windows_count_per_partner_and_minute(engine):
    clock = Clock()
    limiter = RateLimiter(engine, clock=clock)
    counts = [limiter.hit("ptn_a", now=clock.now)[0] for _ in range(5)]
    assert counts == [1, 2, 3, 4, 5]
    assert limiter.hit("ptn_b", now=clock.now)[0] == 1
    count, retry = limiter.hit("ptn_a", now=clock.now + timedelta(seconds=61))
    assert count == 1 and 1 <= retry <= 60
