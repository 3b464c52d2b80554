"""The exchange's processes as a user runs them: a worker, a recorder and the API, over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from exchange.up import worker_ready
from infra.local.ports import free_port

REPO = Path(__file__).resolve().parents[2]


class Stack:
    def __init__(self, settings, state_dir: Path, api_port: int, ws_port: int, extra_env: dict | None = None) -> None:
        self.base_url = f"http://127.0.0.1:{api_port}"
        self.ws_url = f"ws://127.0.0.1:{ws_port}/ws"
        self.logs = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        ports = {"API_PORT": str(api_port), "WS_PORT": str(ws_port)}
        self.env = os.environ | settings.to_env() | {"EXCHANGE_STATE_DIR": str(state_dir)} | ports | (extra_env or {})
        self.procs: dict[str, subprocess.Popen] = {}
        self.started: dict[str, tuple[tuple[str, ...], dict | None]] = {}
        self.metrics_ports = {"worker": free_port(), "recorder": free_port()}
        self.metrics_urls = {"api": f"{self.base_url}/metrics",
                             "ws": f"http://127.0.0.1:{ws_port}/metrics",
                             **{name: f"http://127.0.0.1:{port}/metrics" for name, port in self.metrics_ports.items()}}

    def start(self, name: str, *args: str, env: dict | None = None) -> None:
        """Start a process; without arguments, start one again as it was started before."""
        args, env = (args, env) if args else self.started[name]
        self.started[name] = (args, env)
        log = open(self.logs / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "exchange.cli", *args], cwd=REPO,
                                            env=self.env | (env or {}), stdout=log, stderr=subprocess.STDOUT)

    def start_all(self) -> None:
        for name in ("worker", "recorder"):
            self.start(name, name, "--name", "e2e", "--loglevel", "info",
                       "--metrics-port", str(self.metrics_ports[name]))
        self.start("api", "api")
        self.start("ws", "ws")
        self.wait_ready()
        self.warm_up()

    def warm_up(self, timeout: float = 120.0) -> None:
        """Until a new user's demo balances show: commands flow through the worker and the recorder.

        Partitions never read before are first sought back to their start (input_order.py), so the
        very first commands can take seconds; the tests should measure the running exchange."""
        email = f"warm-up-{time.time_ns()}@example.com"
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            assert http.post("/api/v1/auth/signup", json={"username": "warmup", "email": email,
                                                          "password": "warm-up-pass"}).status_code == 201
            token = http.post("/api/v1/auth/login", json={"email": email, "password": "warm-up-pass"}).json()["token"]
            deadline = time.monotonic() + timeout
            while not http.get("/api/v1/balances", headers={"Authorization": f"Bearer {token}"}).json()["items"]:
                assert time.monotonic() < deadline, f"no balance after {timeout:.0f}s; logs in {self.logs}"
                time.sleep(0.5)

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            workers_ready = all(worker_ready(self.logs / f"{name}.log")
                                for name in ("worker", "recorder") if name in self.procs)
            try:
                if workers_ready and httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200 and \
                        ("ws" not in self.procs or httpx.get(self.ws_url.replace("ws://", "http://").replace(
                            "/ws", "/healthz"), timeout=2).status_code == 200):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the API was not ready within {timeout:.0f}s; logs in {self.logs}")

    def kill(self, name: str) -> None:
        """kill -9: no chance to flush, commit or say goodbye."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def start_api(self, name: str, timeout: float = 60.0, env: dict | None = None) -> str:
        """Another API process beside the stack's, on a port of its own; its base URL once it is ready."""
        port = free_port()
        self.start(name, "api", env={**(env or {}), "API_PORT": str(port)})
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"API process {name} was not ready within {timeout:.0f}s"
            time.sleep(0.5)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        assert not dead, f"processes exited: {dead}; logs in {self.logs}"

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
