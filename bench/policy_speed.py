"""Latency of ``policy.decide()`` (p50/p95/p99 in µs): an allow, a deny with one reason, a deny with many.

Also the one-off cost of ``load_policies()`` (parse + validate every file against the schema).

    .venv/bin/python bench/policy_speed.py [--n 5000]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policy import (
    ConsentFacts,
    IdentityFacts,
    PartnerFacts,
    PolicyRequest,
    QuotaFacts,
    decide,
    load_policies,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _requests() -> dict[str, PolicyRequest]:
    allow = PolicyRequest(
        action="generate", purpose="education", now=NOW,
        partner=PartnerFacts(id="ptn_1", name="acme", active=True, use_cases=["education", "dubbing"]),
        consent=ConsentFacts(id="cns_1", revision=1, status="active", partners=["acme", "globex"],
                             purposes=["education"], prohibited_purposes=["political"],
                             valid_from=NOW - timedelta(days=1), valid_until=NOW + timedelta(days=1)),
        identity=IdentityFacts(similarity=0.9, threshold=0.6, margin=0.3, required_margin=0.05),
        quota=QuotaFacts(used=1, limit=100))
    one = replace(allow, quota=QuotaFacts(used=100, limit=100))
    many = replace(allow, purpose="political", identity=IdentityFacts(similarity=0.1, threshold=0.6, margin=0.0,
                                                                      required_margin=0.05),
                   partner=replace(allow.partner, active=False))
    return {"allow": allow, "deny, 1 reason": one, "deny, 6 reasons": many}


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    qs = statistics.quantiles(samples, n=100)
    return statistics.median(samples), qs[94], qs[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    loads = []
    for _ in range(20):
        t0 = time.perf_counter()
        policies = load_policies()
        loads.append((time.perf_counter() - t0) * 1e3)
    print(f"# policy set {policies.version}, {len(policies.rules)} rules; python {platform.python_version()}, "
          f"{platform.machine()}")
    print(f"load_policies: median {statistics.median(loads):.2f} ms over {len(loads)}")
    print("| request | reasons | p50 µs | p95 µs | p99 µs |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, request in _requests().items():
        for _ in range(200):  # warm up
            decide(request, policies=policies)
        samples = []
        for _ in range(args.n):
            t0 = time.perf_counter_ns()
            decision = decide(request, policies=policies)
            samples.append((time.perf_counter_ns() - t0) / 1e3)
        p50, p95, p99 = _percentiles(samples)
        print(f"| {name} | {', '.join(decision.reason_ids)} | {p50:.0f} | {p95:.0f} | {p99:.0f} |")


if __name__ == "__main__":
    main()
