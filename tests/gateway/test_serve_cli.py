"""`likeness serve` as an operator starts it: a real process on loopback; a broken policy stops it in one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from live_server import free_port

from policy import DEFAULT_POLICY_DIR

LIKENESS = str(Path(sys.executable).with_name("likeness"))


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "LIKENESS_DATA_DIR": str(data_dir)}
    env.pop("LIKENESS_DATABASE_URL", None)
    env.pop("LIKENESS_REDIS_URL", None)
    env.update(extra)
    return env


def _healthy(server: subprocess.Popen[str], port: int, *, timeout_s: float) -> httpx.Response:
    """``GET /healthz`` until it answers 200, the server up all along; that answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            if health.status_code == 200:
                return health
        except httpx.TransportError:
            pass
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_serve_starts_answers_and_stops_cleanly(tmp_path):
    port = free_port()
    server = subprocess.Popen([LIKENESS, "serve", "--port", str(port)], env=_env(tmp_path / "var"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = _healthy(server, port, timeout_s=90)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        schema = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        assert {"/v1/generations", "/v1/generations/{generation_id}", "/v1/generations/{generation_id}/video"} <= set(
            schema["paths"])
        assert "PartnerKey" in schema["components"]["securitySchemes"]
        assert httpx.get(f"http://127.0.0.1:{port}/v1/generations").status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/consent").status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr
    assert "serving on http://127.0.0.1" in stderr and "Traceback" not in stderr
    assert (tmp_path / "var" / "keys" / "audit-signing.key").stat().st_mode & 0o077 == 0


def test_a_broken_policy_stops_the_server_with_one_line(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies)
    broken = policies / "identity.cedar"
    broken.write_text(broken.read_text().replace("context.identity", "context.identiti", 1))
    done = subprocess.run([LIKENESS, "serve", "--port", str(free_port())], capture_output=True, text=True,
                          env=_env(tmp_path / "var", LIKENESS_POLICY_DIR=str(policies)), timeout=120)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "identity.cedar" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_serve_with_several_processes(tmp_path):
    port = free_port()
    server = subprocess.Popen([LIKENESS, "serve", "--port", str(port), "--workers", "2"], env=_env(tmp_path / "var"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _healthy(server, port, timeout_s=180)
        children = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == server.pid]
        assert len(children) >= 2  # the supervisor's worker processes
        ids = {httpx.get(f"http://127.0.0.1:{port}/v1/generations").headers["x-request-id"] for _ in range(4)}
        assert len(ids) == 4
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=90)
    assert server.returncode == 0, stderr
    assert "2 processes" in stderr and "Traceback" not in stderr


def _parent(proc: Path) -> int | None:
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1])
