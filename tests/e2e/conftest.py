"""E2E harness of the decision API: a real ``creditdesk serve`` (uvicorn) on a free port.

The server runs as a user would run it: the console script in a subprocess, configured by
environment variables only, with its own var/ directory; its JSON logs (stderr) go to a
file the tests can grep. API keys are minted with the real ``creditdesk keys create``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT

CREDITDESK = Path(sys.executable).parent / "creditdesk"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(args: list[str], env: dict[str, str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CREDITDESK), *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s
    )


@dataclass
class ApiServer:
    base_url: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes]
    _keys: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def new_key(self, role: str) -> str:
        """A fresh key from the real CLI (the last line of stdout)."""
        done = cli(["keys", "create", "--role", role, "--label", "e2e"], self.env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def auth(self, role: str, fresh: bool = False) -> dict[str, str]:
        if fresh or role not in self._keys:
            self._keys[role] = self.new_key(role)
        return {"Authorization": f"Bearer {self._keys[role]}"}

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_live(server: ApiServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.logs()[-4000:]}")
        try:
            if httpx.get(f"{server.base_url}/health/live", timeout=2).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"server not live after {timeout_s}s ({last}):\n{server.logs()[-4000:]}")


@pytest.fixture(scope="module")
def start_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ApiServer]]:
    """Start servers with env overrides (``workers=`` for uvicorn workers); all stop at module end."""
    started: list[ApiServer] = []

    def start(workers: int = 1, var_dir: Path | None = None, **overrides: str) -> ApiServer:
        var = var_dir or tmp_path_factory.mktemp("api-var")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITDESK_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update({"CREDITDESK_VAR_DIR": str(var), "PYTHONUNBUFFERED": "1", **overrides})
        log_path = var / f"server-{port}.log"
        command = [str(CREDITDESK), "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", str(workers)]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = ApiServer(f"http://127.0.0.1:{port}", env, log_path, process)
        started.append(server)
        _wait_live(server, timeout_s=90)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGTERM)
            try:
                server.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(args, env)`` for test modules (conftest is not importable as a module)."""
    return cli
