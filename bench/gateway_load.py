"""The gateway under load: concurrent partners on loopback for a bounded time; limits, jobs and gate latency.

    .venv/bin/python bench/gateway_load.py [--seconds 60] [--partners 4] [--clients 3] [--rate 240]
    .venv/bin/python bench/gateway_load.py --quick              # ~15 s smoke run
    .venv/bin/python bench/gateway_load.py --run-jobs --workers 2  # then drain the queue with real workers

A fresh data dir in a temp folder (keys, SQLite database, blobs); partners with a rate limit and
a quota; one consent per real person (frames of the shared clips, ``../shared/data/clips``). The
server is ``likeness serve --no-jobs`` in its own process (the load generator does not share its
GIL); accepted jobs stay queued, so the gate's decision is measured without any generation.

Half the partners are *steady* (they pace themselves below their rate) and half *greedy* (they
ignore most of ``Retry-After`` and keep knocking); the last greedy partner has a small quota.
Each client mixes consent checks (``POST /v1/consents/{id}/check``: the policy decision alone),
generation requests (``POST /v1/generations``: media decode, consent, face match against the
consent's reference, quota, policy, audit, job, queue) with unique ``Idempotency-Key``\\ s, some
repeated afterwards and some sent twice at once, and status reads of its own jobs (and now and
then another partner's, which must answer 404). A reference client reads ``GET /healthz`` (no
auth, no database) on the same server all along: the gate's p95 is stated as a multiple of it.

After the run, with the server stopped, it checks on the database itself:

* rate limits: in every partner's fixed UTC minute (``int(t) // 60``, as the server counts), the
  responses that were not rate-limited and were sent and answered inside that minute never exceed
  the rate; every 429 carries ``Retry-After``;
* jobs: every 202 id is unique, every repeated key got the first id back, the jobs table holds
  exactly the accepted ids (none lost, none extra), no partner exceeds its quota;
* audit: the log verifies intact; ``generation.decided`` refusals equal the refusals the clients
  saw, and its acceptances cover every job; ``consent.checked`` equals the checks answered.

With ``--run-jobs``, ``likeness worker`` processes then drain the queue: every job must be
released exactly once (one ``generation.released`` audit entry per id). Prints Markdown tables
and exits 1 when any check fails (the failures are listed, not hidden).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "gateway")]  # the tests' factories: a person, a JPEG, speech

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from gateway_factories import jpeg, media_files, register_consent, speech_wav  # noqa: E402
from gateway_factories import person as person_of_clip  # noqa: E402
from live_server import free_port, interrupt  # noqa: E402

SHARED = Path(os.environ.get("LIKENESS_SHARED_DATA", ROOT.parent / "shared" / "data"))
LIKENESS = ROOT / ".venv" / "bin" / "likeness"
CLIPS = ("lp_d0", "lp_d3", "lp_d6", "lp_d9", "lp_d10", "lp_d11", "lp_d12")


# ---------------------------------------------------------------------- records


@dataclass
class Call:
    kind: str            # check, generate, replay, twin, status, foreign, healthz
    partner: str
    sent: float          # wall clock (time.time) when sent
    done: float          # wall clock when answered
    latency_s: float     # perf_counter difference
    status: int          # HTTP status, 0 for a transport error
    code: str | None = None          # error.code of a 4xx/5xx
    retry_after: str | None = None
    generation_id: str | None = None
    key: str | None = None           # Idempotency-Key
    expect: str | None = None        # for generate: "allow" or "deny"


@dataclass
class PartnerSpec:
    name: str
    rate: int
    quota: int
    greedy: bool
    key: str = ""
    id: str = ""


@dataclass
class Shared:
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # partner -> accepted ids

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)
            if call.kind == "generate" and call.status == 202 and call.generation_id:
                self.ids[call.partner].append(call.generation_id)

    def some_id(self, partner: str, rng: random.Random) -> str | None:
        with self.lock:
            ids = self.ids.get(partner)
            return rng.choice(ids) if ids else None


# ---------------------------------------------------------------------- setup


def prepare(data_dir: Path, specs: list[PartnerSpec], clips: list[str], tmp: Path) -> dict[str, Any]:
    """Keys, partners and one consent per person, written by a Runtime in this process (then closed)."""
    from gateway.runtime import Runtime, ensure_keys
    from gateway.settings import Settings

    settings = Settings(data_dir=data_dir)
    ensure_keys(settings)
    runtime = Runtime.build(settings)
    for spec in specs:
        partner, issued = runtime.partners.add(spec.name, use_cases=["education"], quota=spec.quota,
                                               rate_per_minute=spec.rate)
        spec.key, spec.id = issued.plaintext, partner.id
    people = []
    for clip in clips:  # education, never political, for every partner; the grant logged, as the gate requires
        who = person_of_clip(SHARED, clip)
        consent_id, _token = register_consent(runtime, who, partners=[s.name for s in specs])
        people.append({"clip": clip, "consent": consent_id, "portraits": [jpeg(f) for f in who.portraits]})
    audio = speech_wav("Hello, this is a short lesson about the planets.", tmp / "speech.wav")
    runtime.engine.dispose()
    return {"people": people, "audio": audio}


def start_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LIKENESS_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([str(LIKENESS), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-jobs"],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server stopped at start-up (exit {proc.returncode}):\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise SystemExit("the server did not answer /healthz within 180 s")


# ---------------------------------------------------------------------- load


def _send(client: httpx.Client, shared: Shared, kind: str, partner: str, method: str, url: str,
          **kwargs: Any) -> Call:
    extra = {k: kwargs.pop(k) for k in ("key", "expect") if k in kwargs}
    sent = time.time()
    start = time.perf_counter()
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        call = Call(kind, partner, sent, time.time(), time.perf_counter() - start, 0, code=type(exc).__name__,
                    **extra)
        shared.add(call)
        return call
    latency = time.perf_counter() - start
    code = gen_id = None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
    elif isinstance(body, dict):
        gen_id = body.get("id") if str(body.get("id", "")).startswith("gen_") else None
    call = Call(kind, partner, sent, time.time(), latency, response.status_code, code=code,
                retry_after=response.headers.get("Retry-After"), generation_id=gen_id, **extra)
    shared.add(call)
    return call


def client_loop(index: int, spec: PartnerSpec, url: str, world: dict[str, Any], shared: Shared,
                others: list[PartnerSpec], until: float, clients_per_partner: int) -> None:
    rng = random.Random(f"{spec.name}-{index}")
    people, audio = world["people"], world["audio"]
    # steady clients pace the partner to ~80 % of its rate in total; greedy ones barely pause
    pause = 60.0 * clients_per_partner / (0.8 * spec.rate) if not spec.greedy else 0.0
    counter = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {spec.key}"}, timeout=60) as client:
        while time.time() < until:
            roll = rng.random()
            person = rng.choice(people)
            if roll < 0.45:
                purpose = "education" if rng.random() < 0.8 else "political"
                call = _send(client, shared, "check", spec.name, "POST", f"/v1/consents/{person['consent']}/check",
                             json={"purpose": purpose})
            elif roll < 0.80:
                counter += 1
                key = f"{spec.name}-{index}-{counter}"
                twin = rng.random() < 0.1
                other = rng.choice([p for p in people if p is not person])
                wrong_face = rng.random() < 0.1
                portrait = rng.choice((other if wrong_face else person)["portraits"])
                purpose = "political" if rng.random() < 0.05 else "education"
                form = {"consent_id": person["consent"], "purpose": purpose}
                files = media_files(portrait, audio)
                expect = "deny" if wrong_face or purpose != "education" else "allow"
                kw = {"data": form, "files": files, "headers": {"Idempotency-Key": key}, "key": key, "expect": expect}
                if twin:  # the same key twice at once: one job, both answers name it
                    thread = threading.Thread(target=_send, args=(client, shared, "twin", spec.name, "POST",
                                                                  "/v1/generations"), kwargs=dict(kw))
                    thread.start()
                    call = _send(client, shared, "generate", spec.name, "POST", "/v1/generations", **dict(kw))
                    thread.join()
                else:
                    call = _send(client, shared, "generate", spec.name, "POST", "/v1/generations", **dict(kw))
                if call.status == 202 and rng.random() < 0.25:  # a retry after a lost answer
                    call = _send(client, shared, "replay", spec.name, "POST", "/v1/generations", **dict(kw))
            else:
                if rng.random() < 0.15 and others:
                    owner = rng.choice(others)
                    gen_id = shared.some_id(owner.name, rng)
                    kind = "foreign"
                else:
                    gen_id = shared.some_id(spec.name, rng)
                    kind = "status"
                if gen_id is None:
                    call = _send(client, shared, "me", spec.name, "GET", "/v1/me")
                else:
                    call = _send(client, shared, kind, spec.name, "GET", f"/v1/generations/{gen_id}")
            if call.status == 429:
                # greedy: come back after a fifth of a second whatever Retry-After says; steady: honour it
                wait = 0.2 if spec.greedy else float(call.retry_after or 1)
                time.sleep(min(wait, max(0.0, until - time.time())))
            elif pause:
                time.sleep(rng.uniform(0.5, 1.5) * pause)


def idle_baseline(url: str, spec: PartnerSpec, world: dict[str, Any], shared: Shared, rounds: int) -> None:
    """One request at a time on the otherwise idle server: what each answer costs without contention."""
    rng = random.Random("idle")
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {spec.key}"}, timeout=60) as client:
        for n in range(rounds):
            person = rng.choice(world["people"])
            _send(client, shared, "idle-healthz", "-", "GET", "/healthz")
            _send(client, shared, "idle-check", spec.name, "POST", f"/v1/consents/{person['consent']}/check",
                  json={"purpose": "education"})
            files = media_files(rng.choice(person["portraits"]), world["audio"])
            _send(client, shared, "idle-generate", spec.name, "POST", "/v1/generations",
                  data={"consent_id": person["consent"], "purpose": "education"}, files=files,
                  headers={"Idempotency-Key": f"idle-{n}"}, key=f"idle-{n}", expect="allow")


def reference_loop(url: str, shared: Shared, until: float, every_s: float) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.time() < until:
            _send(client, shared, "healthz", "-", "GET", "/healthz")
            time.sleep(every_s)


# ---------------------------------------------------------------------- checks


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def check_rates(calls: list[Call], specs: list[PartnerSpec], failures: list[str]) -> list[tuple]:
    rows = []
    for spec in specs:
        mine = [c for c in calls if c.partner == spec.name and c.kind != "healthz"]
        windows: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # inside, straddling, rate-limited
        for c in mine:
            limited = c.status == 429 and c.code == "rate_limited"
            if c.status == 0:
                continue
            m0, m1 = int(c.sent) // 60, int(c.done) // 60
            if limited:
                windows[m0][2] += 1
            elif m0 == m1:
                windows[m0][0] += 1
            else:
                windows[m0][1] += 1
                windows[m1][1] += 1
        for minute in sorted(windows):
            inside, _straddle, _limited = windows[minute]
            if inside > spec.rate:
                failures.append(f"rate limit broken: {spec.name} got {inside} answers (not 429) in minute {minute}, "
                                f"rate {spec.rate}")
        worst = max((w[0] for w in windows.values()), default=0)
        worst_hi = max((w[0] + w[1] for w in windows.values()), default=0)
        limited = sum(w[2] for w in windows.values())
        rows.append((spec.name, "greedy" if spec.greedy else "steady", spec.rate, len(windows), worst, worst_hi,
                     limited, len(mine)))
    for c in calls:
        if c.status == 429 and not (c.retry_after and c.retry_after.isdigit() and int(c.retry_after) >= 1):
            failures.append(f"a 429 ({c.kind}, {c.code}) without a valid Retry-After: {c.retry_after!r}")
    return rows


def check_jobs(data_dir: Path, calls: list[Call], specs: list[PartnerSpec], failures: list[str]) -> dict[str, Any]:
    from sqlalchemy import text

    from audit import AuditKey, AuditLog
    from gateway.deps import open_engine
    from gateway.settings import Settings

    settings = Settings(data_dir=data_dir)
    engine = open_engine(settings)
    accepted = [c for c in calls if c.kind in ("generate", "twin", "idle-generate") and c.status == 202]
    accepted_ids = [c.generation_id for c in accepted]
    if len(set(accepted_ids)) != len(accepted_ids):
        dup = [i for i, n in Counter(accepted_ids).items() if n > 1]
        failures.append(f"duplicated job: {len(dup)} id(s) answered 202 more than once, e.g. {dup[:3]}")
    first_by_key = {c.key: c.generation_id for c in accepted}
    replays = [c for c in calls if c.kind in ("replay", "twin", "generate") and c.status == 200]
    bad_replays = [c for c in replays if first_by_key.get(c.key) not in (None, c.generation_id)]
    if bad_replays:
        failures.append(f"{len(bad_replays)} idempotent repeat(s) got another id than the first answer")
    orphan_replays = [c for c in replays if c.key not in first_by_key]
    twins = [c for c in calls if c.kind == "twin" and c.status in (200, 202)]
    by_key: dict[str, list[Call]] = defaultdict(list)
    for c in calls:
        if c.kind in ("generate", "twin") and c.status in (200, 202):
            by_key[c.key or ""].append(c)
    for key, pair in by_key.items():
        if len(pair) == 2 and sum(1 for c in pair if c.status == 202) != 1:
            failures.append(f"twin requests with key {key}: statuses {[c.status for c in pair]} (want one 202)")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, partner_id, idempotency_key, status FROM generation_jobs")).all()
        audit_rows = conn.execute(text("SELECT kind, generation_id, body FROM audit_entries")).all()
    table_ids = {r[0] for r in rows}
    lost = set(accepted_ids) - table_ids
    extra = table_ids - set(accepted_ids)
    if lost:
        failures.append(f"lost jobs: {len(lost)} id(s) answered 202 are not in the jobs table, e.g. {sorted(lost)[:3]}")
    # a job created whose answer the client never got (transport error) is not lost, but say so
    unanswered = [c for c in calls if c.kind in ("generate", "twin", "replay") and c.status == 0]
    if extra and len(extra) > len(unanswered):
        failures.append(f"extra jobs: {len(extra)} job(s) in the table were never answered 202, e.g. "
                        f"{sorted(extra)[:3]}")
    keys = Counter((r[1], r[2]) for r in rows if r[2] is not None)
    if any(n > 1 for n in keys.values()):
        failures.append("two jobs share one partner's Idempotency-Key")
    per_partner = Counter(r[1] for r in rows)
    for spec in specs:
        if per_partner.get(spec.id, 0) > spec.quota:
            failures.append(f"quota broken: {spec.name} has {per_partner[spec.id]} jobs, quota {spec.quota}")
    statuses = Counter(r[3] for r in rows)
    # what the audit log says
    kinds: Counter[str] = Counter()
    decided = Counter()
    for kind, _gen, body in audit_rows:
        kinds[kind] += 1
        if kind == "generation.decided":
            data = json.loads(body).get("data", {})
            decided["allowed" if data.get("allowed") else "refused"] += 1
    gen_calls = [c for c in calls if c.kind in ("generate", "twin", "replay", "idle-generate")]
    refusals_seen = sum(1 for c in gen_calls if (c.status in (403, 404, 413, 415, 422) and c.code != "invalid_request")
                        or (c.status == 429 and c.code == "quota_exhausted"))
    if decided["refused"] != refusals_seen:
        failures.append(f"audit: {decided['refused']} generation.decided refusals, clients saw {refusals_seen}")
    raced = sum(1 for c in gen_calls if c.status == 200) + sum(1 for c in gen_calls if c.code == "quota_exhausted")
    if not (len(table_ids) <= decided["allowed"] <= len(table_ids) + raced):
        failures.append(f"audit: {decided['allowed']} generation.decided acceptances for {len(table_ids)} jobs")
    checks_answered = sum(1 for c in calls if c.kind in ("check", "idle-check") and c.status == 200)
    if kinds["consent.checked"] != checks_answered:
        failures.append(f"audit: {kinds['consent.checked']} consent.checked entries, {checks_answered} checks "
                        "answered 200")
    key = AuditKey.from_file(settings.resolved_audit_signing_key_file)
    report = AuditLog(engine, public_keys=[key.public_key_raw]).verify()
    if not report.ok:
        failures.append(f"audit log does not verify: {report.summary()}")
    engine.dispose()
    return {"accepted": len(accepted_ids), "table": len(table_ids), "lost": len(lost), "extra": len(extra),
            "replays": len(replays), "orphan_replays": len(orphan_replays), "twins": len(twins),
            "statuses": dict(statuses), "decided": dict(decided), "refusals_seen": refusals_seen,
            "checked": kinds["consent.checked"], "checks_answered": checks_answered, "audit_entries": report.entries,
            "audit_ok": report.ok, "per_partner": {s.name: per_partner.get(s.id, 0) for s in specs}}


def run_workers(data_dir: Path, count: int, timeout_s: float, tmp: Path, failures: list[str]) -> dict[str, Any]:
    """``likeness worker`` processes drain the queue; every job must be released exactly once."""
    from sqlalchemy import text

    from gateway.deps import open_engine
    from gateway.settings import Settings

    env = {**os.environ, "LIKENESS_DATA_DIR": str(data_dir)}
    engine = open_engine(Settings(data_dir=data_dir))
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM generation_jobs")).scalar_one()
    procs = [subprocess.Popen([str(LIKENESS), "worker", "-t", "1"], env=env, cwd=ROOT,
                              stdout=(tmp / f"worker{i}.log").open("wb"), stderr=subprocess.STDOUT)
             for i in range(count)]
    start = time.perf_counter()
    first_done = None
    try:
        while time.perf_counter() - start < timeout_s:
            with engine.connect() as conn:
                left = conn.execute(text("SELECT count(*) FROM generation_jobs WHERE status IN "
                                         "('queued', 'running')")).scalar_one()
                done = total - left
            if done and first_done is None:
                first_done = time.perf_counter() - start
            if left == 0:
                break
            if any(p.poll() is not None for p in procs):
                failures.append("a worker process stopped during the run")
                break
            time.sleep(1.0)
        elapsed = time.perf_counter() - start
    finally:
        for p in procs:
            interrupt(p)
    with engine.connect() as conn:
        statuses = Counter(r[0] for r in conn.execute(text("SELECT status FROM generation_jobs")).all())
        released_ids = {r[0] for r in conn.execute(text("SELECT id FROM generation_jobs WHERE status = 'released'"))}
        entries = Counter(r[0] for r in conn.execute(text(
            "SELECT generation_id FROM audit_entries WHERE kind = 'generation.released'")).all())
    engine.dispose()
    twice = [g for g, n in entries.items() if n > 1]
    if twice:
        failures.append(f"released twice: {len(twice)} job(s) have more than one generation.released entry")
    if set(entries) != released_ids:
        failures.append(f"released jobs ({len(released_ids)}) and generation.released entries ({len(entries)}) "
                        "differ")
    if statuses.get("queued", 0) or statuses.get("running", 0):
        failures.append(f"the workers left {statuses.get('queued', 0) + statuses.get('running', 0)} job(s) unfinished "
                        f"after {timeout_s:.0f} s")
    return {"total": total, "elapsed": elapsed, "statuses": dict(statuses), "released": len(released_ids),
            "entries": sum(entries.values()), "first_done": first_done}


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load runs")
    parser.add_argument("--partners", type=int, default=4, help="partners (half steady, half greedy)")
    parser.add_argument("--clients", type=int, default=3, help="concurrent clients per partner")
    parser.add_argument("--rate", type=int, default=120, help="each partner's requests a minute")
    parser.add_argument("--quota", type=int, default=100000, help="each partner's quota of jobs")
    parser.add_argument("--tight-quota", type=int, default=12, help="the last greedy partner's quota")
    parser.add_argument("--people", type=int, default=4, help="consenting people (shared clips)")
    parser.add_argument("--idle-rounds", type=int, default=20, help="sequential requests before the load")
    parser.add_argument("--run-jobs", action="store_true", help="then drain the queue with likeness worker")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--jobs-timeout", type=float, default=600.0, help="seconds the workers get")
    parser.add_argument("--quick", action="store_true", help="a ~15 s smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir and print it")
    args = parser.parse_args()
    if args.quick:
        args.seconds = min(args.seconds, 15.0)
    if not (SHARED / "clips").is_dir():
        raise SystemExit(f"the shared clips are not at {SHARED / 'clips'}")
    if not LIKENESS.exists():
        raise SystemExit(f"{LIKENESS} not found: run from the repository with its .venv")
    clips = list(CLIPS[:max(2, min(args.people, len(CLIPS)))])
    specs = []
    for n in range(args.partners):
        greedy = n >= args.partners // 2
        last = n == args.partners - 1 and greedy and args.partners > 1
        specs.append(PartnerSpec(name=f"partner{n}", rate=args.rate, quota=args.tight_quota if last else args.quota,
                                 greedy=greedy))
    baseline = PartnerSpec(name="baseline", rate=100000, quota=100000, greedy=False)
    tmp_obj = tempfile.TemporaryDirectory(prefix="likeness-load-")
    tmp = Path(tmp_obj.name)
    data_dir = tmp / "var"
    failures: list[str] = []
    setup_start = time.perf_counter()
    world = prepare(data_dir, [*specs, baseline], clips, tmp)
    port = free_port()
    server = start_server(data_dir, port, tmp / "server.log")
    setup_s = time.perf_counter() - setup_start
    url = f"http://127.0.0.1:{port}"
    shared = Shared()
    idle_baseline(url, baseline, world, shared, 3 if args.quick else args.idle_rounds)
    until = time.time() + args.seconds
    threads = [threading.Thread(target=reference_loop, args=(url, shared, until, 0.1), name="healthz")]
    for spec in specs:
        others = [s for s in specs if s is not spec]
        for i in range(args.clients):
            threads.append(threading.Thread(target=client_loop, name=f"{spec.name}-{i}",
                                            args=(i, spec, url, world, shared, others, until, args.clients)))
    load_before = os.getloadavg()[0]
    load_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load_s = time.perf_counter() - load_start
    load_after = os.getloadavg()[0]
    alive = server.poll() is None
    interrupt(server)
    if not alive:
        failures.append(f"the server died during the load (exit {server.returncode})")
    calls = shared.calls
    errors_5xx = [c for c in calls if c.status >= 500]
    transport = [c for c in calls if c.status == 0]
    if errors_5xx:
        failures.append(f"{len(errors_5xx)} server error(s): "
                        f"{Counter((c.kind, c.status, c.code) for c in errors_5xx).most_common(5)}")
    if transport:
        failures.append(f"{len(transport)} transport error(s): {Counter(c.code for c in transport).most_common(3)}")
    for c in calls:
        if c.status == 401:
            failures.append(f"401 for {c.partner} ({c.kind})")
            break
    wrong = [c for c in calls if c.kind == "foreign" and c.status not in (404, 429)]
    if wrong:
        failures.append(f"{len(wrong)} read(s) of another partner's job did not answer 404: "
                        f"{Counter(c.status for c in wrong)}")
    own = [c for c in calls if c.kind == "status" and c.status not in (200, 429)]
    if own:
        failures.append(f"{len(own)} read(s) of an own job did not answer 200: {Counter(c.status for c in own)}")
    allowed_refused = [c for c in calls if c.kind == "generate" and c.expect == "allow" and c.status == 403]
    denied_accepted = [c for c in calls if c.kind == "generate" and c.expect == "deny" and c.status in (200, 202)]
    if denied_accepted:
        failures.append(f"{len(denied_accepted)} request(s) that the policy must refuse were accepted")
    rate_rows = check_rates(calls, specs, failures)
    jobs = check_jobs(data_dir, calls, specs, failures)
    drained = run_workers(data_dir, args.workers, args.jobs_timeout, tmp, failures) if args.run_jobs else None

    # ------------------------------------------------------------------ tables
    ref = [c.latency_s for c in calls if c.kind == "healthz" and c.status == 200]
    loaded = sum(1 for c in calls if not c.kind.startswith("idle"))
    idle_ref = [c.latency_s for c in calls if c.kind == "idle-healthz" and c.status == 200]
    ref50, ref95 = pct(ref, 50), pct(ref, 95)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    print(f"# gateway under load ({cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n")
    print(f"{len(specs)} partners ({sum(not s.greedy for s in specs)} steady, {sum(s.greedy for s in specs)} greedy) "
          f"x {args.clients} clients, rate {args.rate}/min, {len(clips)} consenting people, "
          f"{load_s:.1f} s of load, {loaded} requests ({loaded / load_s:.1f}/s); setup {setup_s:.1f} s; "
          f"server: `likeness serve --no-jobs` (own process, SQLite); 1-min load average {load_before:.1f} before, "
          f"{load_after:.1f} after (the load generator is itself one of the processes)\n")
    print("| request | answer | n | p50 ms | p95 ms | p99 ms | p50 / healthz p50 | p95 / healthz p95 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    names = {"idle-healthz": "idle: GET /healthz", "idle-check": "idle: POST consents/{id}/check",
             "idle-generate": "idle: POST generations", "healthz": "GET /healthz (reference)",
             "check": "POST consents/{id}/check (decision)",
             "generate": "POST generations (gate decision)", "twin": "POST generations (same key at once)",
             "replay": "POST generations (repeated key)", "status": "GET generations/{id} (own)",
             "foreign": "GET generations/{id} (another's)", "me": "GET /v1/me"}
    for c in calls:
        answer = str(c.status) + (f" {c.code}" if c.code else "")
        if c.kind == "check" and c.status == 200:
            answer = "200"
        groups[(c.kind, answer)].append(c.latency_s)
    order = list(names)
    for (kind, answer), values in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        base50, base95 = (pct(idle_ref, 50), pct(idle_ref, 95)) if kind.startswith("idle") else (ref50, ref95)
        r50 = pct(values, 50) / base50 if base50 > 0 else float("nan")
        r95 = pct(values, 95) / base95 if base95 > 0 else float("nan")
        print(f"| {names[kind]} | {answer} | {len(values)} | {pct(values, 50):.1f} | {pct(values, 95):.1f} "
              f"| {pct(values, 99):.1f} | {r50:.1f} | {r95:.1f} |")
    print("\nRate limits (fixed UTC minutes; 'inside' = answers not rate-limited, sent and answered in the minute):\n")
    print("| partner | kind | rate/min | minutes | worst minute inside | with straddlers | 429 rate_limited "
          "| requests |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rate_rows:
        print("| " + " | ".join(str(v) for v in row) + " |")
    print("\nJobs and audit:\n")
    print("| check | value |")
    print("| --- | --- |")
    print(f"| jobs answered 202 / in the table / lost / extra | {jobs['accepted']} / {jobs['table']} / {jobs['lost']} "
          f"/ {jobs['extra']} |")
    print(f"| jobs per partner (quota {args.quota}, last {args.tight_quota}) | "
          + ", ".join(f"{k} {v}" for k, v in jobs["per_partner"].items()) + " |")
    print(f"| idempotent repeats answered 200 (all with the first id) / twin requests sent | {jobs['replays']} / "
          f"{sum(1 for c in calls if c.kind == 'twin')} |")
    print(f"| statuses in the table | {jobs['statuses']} |")
    print(f"| generation.decided allowed / refused (refusals clients saw) | {jobs['decided'].get('allowed', 0)} / "
          f"{jobs['decided'].get('refused', 0)} ({jobs['refusals_seen']}) |")
    print(f"| consent.checked entries / checks answered 200 | {jobs['checked']} / {jobs['checks_answered']} |")
    print(f"| audit log | {jobs['audit_entries']} entries, {'verifies intact' if jobs['audit_ok'] else 'BROKEN'} |")
    print(f"| allowed-by-design refused 403 / denied-by-design accepted | {len(allowed_refused)} / "
          f"{len(denied_accepted)} |")
    print(f"| 5xx / transport errors | {len(errors_5xx)} / {len(transport)} |")
    if drained is not None:
        rate = drained["released"] / drained["elapsed"] if drained["elapsed"] else float("nan")
        print(f"| workers ({args.workers}): jobs / released / generation.released entries | {drained['total']} / "
              f"{drained['released']} / {drained['entries']} |")
        print(f"| workers: time to drain / jobs per minute / statuses | {drained['elapsed']:.1f} s / "
              f"{rate * 60:.1f} / {drained['statuses']} |")
    print()
    if args.keep:
        print(f"data dir kept: {data_dir}")
    else:
        tmp_obj.cleanup()
    if failures:
        print("FAILED:")
        for f in failures[:40]:
            print(f"- {f}")
        raise SystemExit(1)
    print("all checks hold")


if __name__ == "__main__":
    main()
