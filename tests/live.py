"""A real ``scimd serve`` process for end-to-end tests (``@pytest.mark.live``).

:class:`LiveServer` starts the server as a subprocess on a free loopback port,
with a fresh bootstrap token for the default tenant, waits until ``/healthz``
answers and stops it (SIGTERM, then SIGKILL) at exit::

    with LiveServer("sqlite:////tmp/x.db") as server:
        httpx.get(server.scim_url + "/Users", headers=server.auth_headers)

The fixtures below give each test module one server per backend. A test module
uses them by binding them at module level (``tests/`` is on ``sys.path``: it has
no ``__init__.py``, so pytest's default import mode prepends it)::

    import live

    live_database_url = live.live_database_url
    live_server = live.live_server
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scimd.store.db import normalize_url

POSTGRES_URL = os.environ.get("SCIMD_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


class LiveServerError(RuntimeError):
    """The server (or its migration) could not be started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scimd_command() -> list[str]:
    """The ``scimd`` entry point of the running interpreter's environment."""
    script = Path(sys.executable).with_name("scimd")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "scimd.cli"]


class LiveServer:
    """``scimd serve`` in a subprocess, as a context manager.

    :param database_url: ``sqlite:///path`` or ``postgresql://...``. A PostgreSQL
        schema is migrated first with ``scimd migrate``.
    :param dialect: the dialect of the default tenant (``SCIMD_BOOTSTRAP_DIALECT``).
    :param env: extra environment variables for the server. Other ``SCIMD_*``
        variables of the test process are not passed on (``SCIMD_TEST_*`` are).
    :param command: the ``scimd`` command to run ``serve``/``migrate`` with
        (default: :func:`scimd_command`).
    """

    def __init__(self, database_url: str, *, dialect: str = "rfc",
                 token: str | None = None, env: dict[str, str] | None = None,
                 workers: int = 1, startup_timeout: float = 20.0,
                 stop_timeout: float = 10.0, command: list[str] | None = None) -> None:
        self.database_url = database_url
        self.dialect = dialect
        self.token = token or secrets.token_urlsafe(32)
        self.extra_env = dict(env or {})
        self.workers = workers
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.command = list(command) if command else scimd_command()
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._logdir: tempfile.TemporaryDirectory[str] | None = None
        self._stdout: IO[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    # -- addresses -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise LiveServerError("the server is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def scim_url(self) -> str:
        return self.base_url + "/scim/v2"

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def is_postgresql(self) -> bool:
        return self.database_url.startswith("postgres")

    # -- lifecycle -----------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SCIMD_") or k.startswith("SCIMD_TEST_")}
        env.update({
            "SCIMD_DATABASE_URL": self.database_url,
            "SCIMD_BOOTSTRAP_TOKEN": self.token,
            "SCIMD_BOOTSTRAP_DIALECT": self.dialect,
            "SCIMD_LOG_LEVEL": "warning",
            # The suite's servers run without rate limits, except where a test turns them
            # on through ``env`` (the rate-limit tests).
            "SCIMD_RATE_LIMITS": "off",
            # Conformance runs delete many users in minutes: the guard would (rightly)
            # stop them. The guard's own tests run in-process with it on.
            "SCIMD_DEPROVISION_GUARD": "off",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def migrate(self) -> None:
        done = subprocess.run([*self.command, "migrate"], env=self.environment(),
                              capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise LiveServerError(f"`scimd migrate` failed with exit code {done.returncode}:\n"
                                  f"{done.stdout}\n{done.stderr}")

    def start(self) -> LiveServer:
        if self.process is not None:
            raise LiveServerError("the server is already started")
        if self.is_postgresql:
            self.migrate()
        self._logdir = tempfile.TemporaryDirectory(prefix="scimd-live-")
        self._stdout = open(Path(self._logdir.name) / "stdout", "w+b")  # noqa: SIM115
        self._stderr = open(Path(self._logdir.name) / "stderr", "w+b")  # noqa: SIM115
        self.port = free_port()
        self.process = subprocess.Popen(
            [*self.command, "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers)],
            env=self.environment(), stdin=subprocess.DEVNULL, stdout=self._stdout,
            stderr=self._stderr, start_new_session=True)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        last: str = "no answer yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise LiveServerError(f"scimd serve exited with code {code} before it served "
                                      f"/healthz\n{self.output()}")
            try:
                r = httpx.get(self.base_url + "/healthz", timeout=1.0)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
        raise LiveServerError(f"scimd serve did not answer /healthz within "
                              f"{self.startup_timeout:.0f} s ({last})\n{self.output()}")

    def output(self) -> str:
        """What the server wrote so far on stdout and stderr."""
        parts = []
        for name, stream in (("stdout", self._stdout), ("stderr", self._stderr)):
            if stream is None or stream.closed:
                continue
            stream.flush()
            stream.seek(0)
            data = stream.read().decode("utf-8", "replace")
            stream.seek(0, os.SEEK_END)
            parts.append(f"--- server {name} ---\n{data.rstrip()}")
        return "\n".join(parts)

    def stop(self) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # our own session: the server's workers
                proc.wait(self.stop_timeout)
        self.process = None
        for stream in (self._stdout, self._stderr):
            if stream is not None:
                stream.close()
        self._stdout = self._stderr = None
        if self._logdir is not None:
            self._logdir.cleanup()
            self._logdir = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


@contextlib.contextmanager
def fresh_postgres_database(admin_url: str = POSTGRES_URL) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``admin_url``; dropped at exit."""
    name = f"scimd_live_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        # the server's own driver picks the URL scheme: keep the plain postgresql:// form
        url = make_url(admin_url).set(database=name)
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# -- fixtures ----------------------------------------------------------------------

@pytest.fixture(scope="module", params=BACKENDS)
def live_database_url(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own for one live server: a new SQLite file or PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('live') / 'scimd.db'}"
        return
    if not getattr(request.config, "postgres_ok", True):
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}")
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def live_server(live_database_url: str) -> Iterator[LiveServer]:
    """A running ``scimd serve`` whose default tenant is ``rfc``; one per module and backend."""
    with LiveServer(live_database_url, dialect="rfc") as server:
        yield server
