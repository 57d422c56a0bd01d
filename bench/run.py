"""scimd benchmark harness: `make bench` (full matrix) or `make bench ARGS=--quick`.

For each target it starts the server itself on 127.0.0.1, seeds it, measures, stops it,
and at the end prints one report (Markdown) and writes it with the raw figures to
``bench/results/``. Targets:

- ``ceiling``: a bare ASGI app answering a fixed 1 KB JSON user (bench/ceiling_app.py),
  on the uvicorn settings ``scimd serve`` uses;
- ``peer``: scim2-server from PyPI with its in-memory storage (bench/peer_app.py, run
  from bench/.venv-peer), one worker;
- ``floor``: the least work of a GET by id as a bare ASGI app (bench/floor_app.py) on
  the SQLite file scimd was measured on, after scimd's SQLite 1-worker runs;
- ``same cost``: a bare ASGI app spending the CPU time of one of scimd's list pages on
  every request and answering as many bytes (bench/same_cost_app.py), after scimd's
  SQLite 1-worker runs;
- ``scimd`` on SQLite and PostgreSQL, 10,000 and 100,000 users, 1 and 2 workers.

Load comes from a separate process: Debian's ``wrk`` (C, one thread, 16 connections by
default) replaying request files through bench/scenario.lua. The member-add scenario
is a sequential client in this process (one keep-alive connection, ``http.client``)
since it times each batch as the group grows. Every load loop is bounded in time
(wrk's ``-d``, a time limit on the batches) and in count (batches).

    .venv/bin/python bench/run.py --quick            # ~2 min: 10k users, SQLite+PG, 1 worker
    .venv/bin/python bench/run.py                    # the full matrix
    .venv/bin/python bench/run.py --sizes 100000 --dbs sqlite --workers 1
    .venv/bin/python bench/run.py --profile --sizes 10000   # py-spy on the hot reads
    .venv/bin/python bench/run.py --profile --dbs postgres --scenarios list_page
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from dataset import GROUP_URN, PATCH_URN, email, external_id, user_doc, user_name  # noqa: E402

PROJECT_BIN = ROOT / ".venv" / "bin"
PEER_BIN = BENCH / ".venv-peer" / "bin"
RESULTS = BENCH / "results"
HOST = "127.0.0.1"
CEILING_CPU_S: dict[int, float] = {}
"""The ceiling's CPU seconds per request, by worker count: uvicorn's own share of one."""
PG_URL = os.environ.get("SCIMD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SCIMD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

READS = ["get_user", "filter_username", "filter_email", "filter_externalid", "list_page"]
GROUP_READS = ["group_get_full", "group_get_excl"]
WRITES = ["post_create", "patch_replace"]
MEMBER_VARIANTS = ["member_add", "member_add_excl"]
LABELS = {
    "get_user": "GET /Users/{id}",
    "filter_username": 'filter userName eq',
    "filter_email": 'filter emails.value eq',
    "filter_externalid": 'filter externalId eq',
    "list_page": "list page of 100 (random depth)",
    "post_create": "POST /Users",
    "patch_replace": "PATCH replace displayName",
    "group_get_full": "GET large group",
    "group_get_excl": "GET large group, excl. members",
    "member_add": "PATCH add 100 members",
    "member_add_excl": "PATCH add 100, excl. members",
}
BATCH = 100
MEMBER_CAP = 15_000
SAMPLE_REQUESTS = 4000
PROFILE_RATE = 250
SLOW_REQUEST = 0.5
"""Seconds: a scenario whose probe takes longer is timed sequentially, not with wrk."""


@dataclass
class Config:
    sizes: list[int]
    dbs: list[str]
    workers: list[int]
    duration: float
    warmup: float
    connections: int
    peer: bool
    ceiling: bool
    member_time_limit: float
    quiet_wait: float
    quick: bool
    scenarios: list[str]
    scimd_env: list[str] = field(default_factory=list)
    report: list[Path] | None = None
    tag: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S"))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# -- processes and memory -----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
    return found


def process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += _children(p)
    return tree


def _status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Server:
    """A server process started in its own session, stopped by its process group id."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], ready_path: str,
                 port: int, log_path: Path, ready_timeout: float) -> None:
        self.name, self.port, self.ready_path = name, port, ready_path
        self.log_file = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.peak_tree_kb = 0
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        self._wait_ready(ready_timeout)

    def _sample(self) -> None:
        while self._sampling and self.proc.poll() is None:
            total = sum(_status_kb(p, "VmRSS") for p in process_tree(self.proc.pid))
            self.peak_tree_kb = max(self.peak_tree_kb, total)
            time.sleep(0.25)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; "
                                   f"see {self.log_file.name}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", self.ready_path)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s")

    def memory(self) -> dict[str, float]:
        """Peak RSS: the largest process's high-water mark, and the sampled whole tree."""
        tree = process_tree(self.proc.pid)
        hwm = max((_status_kb(p, "VmHWM") for p in tree), default=0)
        return {"peak_rss_mb": round(hwm / 1024, 1),
                "peak_tree_rss_mb": round(self.peak_tree_kb / 1024, 1),
                "processes": len(tree)}

    def stop(self) -> None:
        self._sampling = False
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log_file.close()


class CpuMeter:
    """CPU used during a measurement, in cores: the server's process tree, PostgreSQL's
    processes, wrk (this process's waited children) and everything else on the machine
    (other people's work: a contended run shows here)."""

    TICK = os.sysconf("SC_CLK_TCK")
    pg_db: str | None = None
    """The benchmark's PostgreSQL database: backends of other databases count as other."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid

    @classmethod
    def foreign_pg_pids(cls) -> set[int]:
        with contextlib.suppress(Exception):
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True, connect_timeout=2) as conn:
                rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname IS NOT "
                                    "NULL AND datname <> %s AND pid <> pg_backend_pid()",
                                    (cls.pg_db or "",)).fetchall()
                return {r[0] for r in rows}
        return set()

    @staticmethod
    def snapshot() -> dict[int, tuple[str, int]]:
        found = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError), \
                    open(f"/proc/{name}/stat") as f:
                text = f.read()
                comm = text[text.index("(") + 1:text.rindex(")")]
                rest = text[text.rindex(")") + 2:].split()
                found[int(name)] = (comm, int(rest[11]) + int(rest[12]))
        return found

    def __enter__(self) -> CpuMeter:
        self.t0 = time.monotonic()
        self.before = self.snapshot()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.children0 = usage.ru_utime + usage.ru_stime
        return self

    def __exit__(self, *exc: object) -> None:
        wall = max(time.monotonic() - self.t0, 1e-6)
        after = self.snapshot()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        tree = set(process_tree(self.server_pid)) if self.server_pid else set()
        foreign = self.foreign_pg_pids() if any(c == "postgres" for c, _ in after.values()) \
            else set()
        used = {"server": 0.0, "db": 0.0, "other": 0.0}
        for pid, (comm, ticks) in after.items():
            if pid == os.getpid():
                continue
            delta = (ticks - self.before.get(pid, (comm, 0))[1]) / self.TICK
            if pid in tree:
                kind = "server"
            elif comm == "postgres" and pid not in foreign:
                kind = "db"
            else:
                kind = "other"
            used[kind] += max(delta, 0.0)
        self.result = {f"cpu_{k}": round(v / wall, 2) for k, v in used.items()}
        self.result["cpu_wrk"] = round(
            (usage.ru_utime + usage.ru_stime - self.children0) / wall, 2)


def wait_quiet(server_pid: int | None, max_wait: float) -> dict[str, float]:
    """Wait (at most ``max_wait`` seconds) until other processes use under a quarter of a
    core, so that a measurement does not share the machine with someone's test suite."""
    started = time.monotonic()
    if max_wait <= 0:
        return {}
    while True:
        with CpuMeter(server_pid) as meter:
            time.sleep(0.5)
        other = meter.result["cpu_other"]
        waited = time.monotonic() - started
        if other < 0.25 or waited >= max_wait:
            return {"quiet_wait_s": round(waited, 1), "other_before": other}


# -- HTTP helpers ------------------------------------------------------------------------


def call(port: int, method: str, path: str, token: str, body: Any = None,
         conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/scim+json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    if own:
        conn.close()
    return resp.status, payload


# -- request files -----------------------------------------------------------------------


def _filter(expr: str) -> str:
    return "filter=" + quote(expr, safe="")


FILTERS = {"filter_username": ("userName", user_name), "filter_email": ("emails.value", email),
           "filter_externalid": ("externalId", external_id)}


def request_lines(scenario: str, prefix: str, ids: list[str], rng: random.Random,
                  nonce: str, group_id: str | None = None) -> list[str]:
    n = len(ids)
    picks = [rng.randrange(n) for _ in range(SAMPLE_REQUESTS)]
    if scenario == "get_user":
        return [f"GET\t{prefix}/Users/{ids[i]}\t" for i in picks]
    if scenario in FILTERS:
        attr, value = FILTERS[scenario]
        return [f"GET\t{prefix}/Users?{_filter(f'{attr} eq {json.dumps(value(i))}')}\t"
                for i in picks]
    if scenario == "list_page":
        last = max(1, n - BATCH + 1)
        return [f"GET\t{prefix}/Users?startIndex={rng.randint(1, last)}&count={BATCH}\t"
                for _ in range(SAMPLE_REQUESTS)]
    if scenario == "post_create":
        return ["POST\t" + prefix + "/Users\t"
                + json.dumps(user_doc(i, name=f"bench.new.{nonce}.{{n}}")) for i in picks]
    if scenario == "patch_replace":
        body = json.dumps({"schemas": [PATCH_URN], "Operations": [
            {"op": "replace", "path": "displayName", "value": "Renamed {n}"}]})
        return [f"PATCH\t{prefix}/Users/{ids[i]}\t{body}" for i in picks]
    if scenario == "group_get_full":
        return [f"GET\t{prefix}/Groups/{group_id}\t"]
    if scenario == "group_get_excl":
        return [f"GET\t{prefix}/Groups/{group_id}?excludedAttributes=members\t"]
    if scenario == "ceiling":
        return [f"GET\t/scim/v2/Users/{ids[i]}\t" for i in picks]
    raise ValueError(scenario)


def probe(port: int, token: str, scenario: str, line: str, size: int) -> dict[str, Any]:
    """Send one request of the scenario and check the answer is a real one."""
    method, path, body = line.split("\t", 2)
    path, body = path.replace("{n}", "probe"), body.replace("{n}", "probe")
    # Twice: the first request may pay for a cache or, on the peer, a lazily built index.
    for attempt in range(2):
        t0 = time.perf_counter()
        status, payload = call(port, method, path.replace("probe", f"probe{attempt}"), token,
                               body.replace("probe", f"probe{attempt}").encode() if body
                               else None)
        elapsed = time.perf_counter() - t0
    expected = {"POST": (201,), "PATCH": (200, 204)}.get(method, (200,))
    problem = None
    if status not in expected:
        problem = f"status {status}: {payload[:200]!r}"
    elif scenario.startswith("filter_"):
        total = json.loads(payload).get("totalResults")
        if total != 1:
            problem = f"totalResults {total}, expected 1"
    elif scenario == "list_page":
        got = len(json.loads(payload).get("Resources", []))
        if got != min(BATCH, size):
            problem = f"{got} resources in a page"
    return {"probe_bytes": len(payload), "probe_s": round(elapsed, 4), "probe_problem": problem}


def run_wrk(port: int, lines: list[str], token: str, duration: float, connections: int,
            workdir: Path, name: str, server_pid: int | None = None) -> dict[str, Any]:
    path = workdir / f"{name}.requests"
    path.write_text("\n".join(lines) + "\n")
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout",
           "30s", "-s", str(BENCH / "scenario.lua"), f"http://{HOST}:{port}", "--", str(path),
           token, secrets.token_hex(4)]
    with CpuMeter(server_pid) as cpu:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 90)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {out.stdout}\n{out.stderr}")
    raw = json.loads(line[len("WRKJSON "):])
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    return {"rps": round(raw["requests"] / seconds, 1), "requests": raw["requests"],
            "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000, "max_ms": raw["max_us"] / 1000,
            "mean_ms": round(raw["mean_us"] / 1000, 3), "errors": raw["errors"],
            "error_rate": round(errors / max(1, raw["requests"]), 4),
            "bytes_per_response": round(raw["bytes"] / max(1, raw["requests"])),
            **cpu.result}


def load_scenario(cfg: Config, server: Server, token: str, scenario: str, lines: list[str],
                  size: int, workdir: Path) -> dict[str, Any]:
    port, pid = server.port, server.proc.pid
    quiet = wait_quiet(pid, cfg.quiet_wait)
    info = probe(port, token, scenario, lines[0], size)
    if info["probe_problem"]:
        log(f"    {scenario}: probe failed: {info['probe_problem']}")
        return info
    if info["probe_s"] > SLOW_REQUEST:
        # 16 connections would queue minutes of work on a server that answers one request
        # at a time: time requests one after another instead (bounded in count and time).
        result = sequential(port, lines, token, pid, 5 if cfg.quick else 10,
                            6 if cfg.quick else 60)
    else:
        if cfg.warmup > 0:
            run_wrk(port, lines, token, cfg.warmup, cfg.connections, workdir,
                    scenario + "-warm")
            wait_server_idle(pid, 60)
        result = run_wrk(port, lines, token, cfg.duration, cfg.connections, workdir, scenario,
                         pid)
        wait_server_idle(pid, 60)
    result.update(info)
    result.update(quiet)
    result["hwm_mb_after"] = server.memory()["peak_rss_mb"]  # which scenario raised the peak
    log(f"    {scenario:<18} {result['rps']:>9.1f} req/s  p50 {result['p50_ms']:.2f} ms  "
        f"p99 {result['p99_ms']:.2f} ms  errors {result['error_rate']:.2%}  cpu server "
        f"{result['cpu_server']:.2f} db {result['cpu_db']:.2f} wrk {result['cpu_wrk']:.2f} "
        f"other {result['cpu_other']:.2f}")
    return result


def sequential(port: int, lines: list[str], token: str, pid: int, count: int,
               time_limit: float) -> dict[str, Any]:
    """Requests one after another on one connection, for scenarios too slow for wrk."""
    conn = http.client.HTTPConnection(HOST, port, timeout=300)
    times, sizes, errors = [], [], 0
    started = time.perf_counter()
    with CpuMeter(pid) as cpu:
        for i in range(count):
            line = lines[(i + 1) % len(lines)]
            method, path, body = line.split("\t", 2)
            t0 = time.perf_counter()
            status, payload = call(port, method, path.replace("{n}", f"seq{i}"), token,
                                   body.replace("{n}", f"seq{i}").encode() if body else None,
                                   conn)
            times.append(time.perf_counter() - t0)
            sizes.append(len(payload))
            errors += status >= 400
            if time.perf_counter() - started > time_limit:
                break
    conn.close()
    ms = sorted(t * 1000 for t in times)
    return {"mode": "sequential", "rps": round(len(times) / sum(times), 2),
            "requests": len(times), "p50_ms": round(statistics.median(ms), 2),
            "p90_ms": ms[min(len(ms) - 1, int(len(ms) * 0.9))], "p99_ms": ms[-1],
            "max_ms": ms[-1], "mean_ms": round(statistics.mean(ms), 2),
            "errors": {"status": errors}, "error_rate": round(errors / len(times), 4),
            "bytes_per_response": round(statistics.mean(sizes)), **cpu.result}


def wait_server_idle(pid: int, max_wait: float) -> None:
    """After wrk stops, let the server finish the requests it still holds."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        with CpuMeter(pid) as meter:
            time.sleep(0.3)
        if meter.result["cpu_server"] < 0.15:
            return


# -- member growth -----------------------------------------------------------------------


def member_growth(server: Server, prefix: str, token: str, ids: list[str], nonce: str,
                  variant: str, time_limit: float, quiet_wait: float) -> dict[str, Any]:
    """Create a group, then add members in batches of 100 (one connection, sequential)
    until it has min(15,000, users) members or the time limit passes."""
    query = "?excludedAttributes=members" if variant == "member_add_excl" else ""
    port = server.port
    quiet = wait_quiet(server.proc.pid, quiet_wait)
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    status, payload = call(port, "POST", f"{prefix}/Groups", token,
                           {"schemas": [GROUP_URN], "displayName": f"bench {nonce} {variant}"},
                           conn)
    if status != 201:
        raise RuntimeError(f"group creation answered {status}: {payload[:200]!r}")
    group_id = json.loads(payload)["id"]
    cap = min(MEMBER_CAP, len(ids)) // BATCH * BATCH
    batches: list[tuple[int, float, int]] = []  # members before, seconds, response bytes
    started = time.perf_counter()
    meter = CpuMeter(server.proc.pid).__enter__()
    for before in range(0, cap, BATCH):
        body = {"schemas": [PATCH_URN], "Operations": [{"op": "add", "path": "members", "value": [
            {"value": v} for v in ids[before:before + BATCH]]}]}
        t0 = time.perf_counter()
        status, payload = call(port, "PATCH", f"{prefix}/Groups/{group_id}{query}", token,
                               body, conn)
        elapsed = time.perf_counter() - t0
        if status not in (200, 204):
            raise RuntimeError(f"member add answered {status}: {payload[:200]!r}")
        batches.append((before, elapsed, len(payload)))
        if time.perf_counter() - started > time_limit:
            break
    conn.close()
    meter.__exit__(None, None, None)
    members = batches[-1][0] + BATCH if batches else 0
    result = {"group_id": group_id, "members": members, "batches": len(batches),
              "complete": members >= cap, "cap": cap, "status": status,
              "series_ms": [round(s * 1000, 2) for _, s, _ in batches],
              "last_response_bytes": batches[-1][2] if batches else 0, **meter.result,
              **quiet}
    result.update(growth_summary(batches))
    log(f"    {variant:<18} {members} members in {len(batches)} batches: first "
        f"{result['first_ms']} ms, last {result['last_ms']} ms "
        f"(x{result['growth']}), {result['last_response_bytes']} B answers")
    return result


def growth_summary(batches: list[tuple[int, float, int]]) -> dict[str, Any]:
    """Median batch time in windows of 5 batches: the first full group sizes (100 to 500
    members before the batch), some milestones, and the last five batches."""
    def window(lo: int, hi: int) -> float | None:
        xs = [s for before, s, _ in batches if lo <= before <= hi]
        return round(statistics.median(xs) * 1000, 2) if xs else None

    out: dict[str, Any] = {"first_ms": window(BATCH, 5 * BATCH)}
    for m in (1000, 5000, 10_000):
        out[f"at_{m}_ms"] = window(m - 2 * BATCH, m + 2 * BATCH)
    tail = batches[-5:]
    out["last_ms"] = round(statistics.median(s for _, s, _ in tail) * 1000, 2) if tail else None
    out["last_members_before"] = tail[0][0] if tail else None
    out["growth"] = (round(out["last_ms"] / out["first_ms"], 2)
                     if out["first_ms"] and out["last_ms"] else None)
    return out


# -- databases ---------------------------------------------------------------------------


def pg_admin(sql: str) -> Any:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchone() if cur.description else None


def pg_url(dbname: str) -> str:
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{dbname}"


def sqlite_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
               if p.exists())


# -- targets -----------------------------------------------------------------------------


def run_ceiling(cfg: Config, workers: int, workdir: Path) -> dict[str, Any]:
    log(f"ceiling, {workers} worker(s)")
    port = free_port()
    server = Server("ceiling", [str(PROJECT_BIN / "python"), str(BENCH / "ceiling_app.py"),
                                "--port", str(port), "--workers", str(workers)],
                    dict(os.environ), "/", port, workdir / f"ceiling-w{workers}.log", 30)
    try:
        ids = [f"W{i:010d}" for i in range(1000)]
        lines = request_lines("ceiling", "", ids, random.Random(1), "c")
        result = load_scenario(cfg, server, "none", "ceiling", lines, 1, workdir)
        if result.get("rps"):
            CEILING_CPU_S[workers] = result["cpu_server"] / result["rps"]
        return {"target": "ceiling", "workers": workers, "scenarios": {"ceiling": result},
                "memory": server.memory()}
    finally:
        server.stop()


def run_floor(cfg: Config, sqlite_path: Path, token: str, ids: list[str], size: int,
              workdir: Path) -> dict[str, Any]:
    """GET by id on bench/floor_app.py, the least work such a GET needs, over scimd's
    own database: how far up the ceiling any Python GET can reach (README, line 1)."""
    log("  floor: the least work of a GET by id, bare ASGI, on scimd's database")
    port = free_port()
    server = Server("floor", [str(PROJECT_BIN / "python"), str(BENCH / "floor_app.py"),
                              "--port", str(port), "--database", str(sqlite_path)],
                    dict(os.environ), "/healthz", port, workdir / f"floor-{size}.log", 30)
    try:
        lines = request_lines("get_user", "/scim/v2", ids, random.Random(size), "f")
        return load_scenario(cfg, server, token, "get_user", lines, size, workdir)
    finally:
        server.stop()


def run_same_cost(cfg: Config, page: dict[str, Any], size: int,
                  workdir: Path) -> dict[str, Any] | None:
    """A SQLite list page's CPU time and answer size on bench/same_cost_app.py: the p50
    and p99 any server of that cost per request gets here (README, line 4). uvicorn's own
    share, the ceiling's CPU per request, is taken off, since the bare app pays it too;
    the app's own CPU per request is reported beside scimd's, so "the same" is measured,
    not assumed. On PostgreSQL a page also waits on the database, which this does not
    model, so it is not run there."""
    if not page.get("rps") or not page.get("cpu_server") or page.get("mode"):
        return None
    ceiling_cpu = CEILING_CPU_S.get(1)
    if ceiling_cpu is None:
        log("  same cost: no ceiling figure; uvicorn's share is not taken off")
    scimd_us = page["cpu_server"] / page["rps"] * 1e6
    cpu_us = max(0.0, scimd_us - (ceiling_cpu or 0.0) * 1e6)
    log(f"  same cost: a bare ASGI app spending {cpu_us:.0f} µs of CPU per request")
    port = free_port()
    server = Server("same-cost", [str(PROJECT_BIN / "python"), str(BENCH / "same_cost_app.py"),
                                  "--port", str(port), "--cpu-us", f"{cpu_us:.1f}",
                                  "--bytes", str(page["probe_bytes"])],
                    dict(os.environ), "/", port, workdir / f"same-cost-sqlite-{size}.log", 30)
    try:
        lines = request_lines("ceiling", "", [f"W{i:010d}" for i in range(1000)],
                              random.Random(size), "c")
        result = load_scenario(cfg, server, "none", "same_cost", lines, size, workdir)
    finally:
        server.stop()
    own = result["cpu_server"] / result["rps"] * 1e6 if result.get("rps") else None
    return {**result, "cpu_us_spent": round(cpu_us, 1), "scimd_cpu_us": round(scimd_us, 1),
            "own_cpu_us": round(own, 1) if own else None}


def _reference(name: str, run: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    """A bare reference app's figures, or None with a log line if it failed: scimd's
    figures, already measured, are kept either way."""
    try:
        return run()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        log(f"  {name} failed: {exc}")
        return None


def _scenarios(cfg: Config, server: Server, token: str, prefix: str, ids: list[str],
               size: int, workdir: Path, nonce: str) -> tuple[dict, dict]:
    rng = random.Random(size)
    scenarios: dict[str, Any] = {}
    for name in READS:
        if name in cfg.scenarios:
            scenarios[name] = load_scenario(cfg, server, token, name,
                                            request_lines(name, prefix, ids, rng, nonce),
                                            size, workdir)
    members: dict[str, Any] = {}
    for variant in MEMBER_VARIANTS:
        if variant in cfg.scenarios or (variant == "member_add" and any(
                s in cfg.scenarios for s in GROUP_READS)):
            members[variant] = member_growth(server, prefix, token, ids, nonce, variant,
                                             cfg.member_time_limit, cfg.quiet_wait)
    group = members.get("member_add", {}).get("group_id")
    for name in GROUP_READS:
        if name in cfg.scenarios and group:
            scenarios[name] = load_scenario(
                cfg, server, token, name, request_lines(name, prefix, ids, rng, nonce, group),
                size, workdir)
            scenarios[name]["group_members"] = members["member_add"]["members"]
    for name in WRITES:
        if name in cfg.scenarios:
            scenarios[name] = load_scenario(cfg, server, token, name,
                                            request_lines(name, prefix, ids, rng, nonce),
                                            size, workdir)
    return scenarios, members


def run_peer(cfg: Config, size: int, workdir: Path) -> dict[str, Any]:
    log(f"peer scim2-server, {size} users, 1 worker")
    port, token = free_port(), secrets.token_urlsafe(16)
    ids_path = workdir / f"peer-{size}.ids"
    server = Server("peer", [str(PEER_BIN / "python"), str(BENCH / "peer_app.py"),
                             "--port", str(port), "--users", str(size), "--token", token,
                             "--ids-out", str(ids_path)],
                    dict(os.environ), "/v2/ServiceProviderConfig", port,
                    workdir / f"peer-{size}.log", 60 + size / 500)
    try:
        ids = ids_path.read_text().split()
        scenarios, members = _scenarios(cfg, server, token, "/v2", ids, size, workdir,
                                        f"p{size}")
        return {"target": "peer", "size": size, "workers": 1, "scenarios": scenarios,
                "members": members, "memory": server.memory()}
    finally:
        server.stop()


@contextlib.contextmanager
def seeded_scimd(cfg: Config, db: str, size: int, workers: int, workdir: Path, tag: str,
                 ) -> Iterator[tuple[dict[str, str], str, list[str], Path, str]]:
    """A fresh scimd database (a SQLite file, or a PostgreSQL database of this run) with
    ``size`` users: the server's environment, its token, the users' ids, the SQLite path
    and the PostgreSQL database's name. Both are removed at the end."""
    token = "xoxp-bench-" + secrets.token_urlsafe(24)
    dbname = f"scimd_bench_{os.getpid()}_{tag.replace('-', '_')}"
    sqlite_path = workdir / f"scimd-{tag}.db"
    if db == "sqlite":
        for p in (sqlite_path, Path(f"{sqlite_path}-wal"), Path(f"{sqlite_path}-shm")):
            p.unlink(missing_ok=True)
        url = f"sqlite:///{sqlite_path}"
    else:
        pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        pg_admin(f'CREATE DATABASE "{dbname}"')
        url = pg_url(dbname)
        CpuMeter.pg_db = dbname
    env = dict(os.environ, SCIMD_DATABASE_URL=url, SCIMD_BOOTSTRAP_TOKEN=token,
               SCIMD_BOOTSTRAP_DIALECT="rfc", SCIMD_RATE_LIMITS="off")
    env.update(kv.split("=", 1) for kv in cfg.scimd_env)
    if workers > 1:  # the documented multi-process set-up: locks in Redis
        env.update(SCIMD_REDIS_URL=REDIS_URL, SCIMD_REDIS_PREFIX=f"scimd-bench-{os.getpid()}")
    try:
        if db != "sqlite":
            subprocess.run([str(PROJECT_BIN / "scimd"), "migrate"], env=env, check=True,
                           capture_output=True, timeout=120)
        ids_path = workdir / f"scimd-{tag}.ids"
        seed = subprocess.run([str(PROJECT_BIN / "python"), str(BENCH / "seed_scimd.py"),
                               "--url", url, "--token", token, "--users", str(size),
                               "--ids-out", str(ids_path)], env=env, capture_output=True,
                              text=True, timeout=1800)
        if seed.returncode != 0:
            raise RuntimeError(f"seeding failed: {seed.stderr[-2000:]}")
        log(f"  {seed.stdout.strip()}")
        yield env, token, ids_path.read_text().split(), sqlite_path, dbname
    finally:
        CpuMeter.pg_db = None
        if db != "sqlite":
            pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        else:
            for p in (sqlite_path, Path(f"{sqlite_path}-wal"), Path(f"{sqlite_path}-shm")):
                p.unlink(missing_ok=True)


def run_scimd(cfg: Config, db: str, size: int, workers: int, workdir: Path) -> dict[str, Any]:
    log(f"scimd, {db}, {size} users, {workers} worker(s)")
    tag = f"{db}-{size}-w{workers}"
    with seeded_scimd(cfg, db, size, workers, workdir, tag) as seeded:
        return _measure_scimd(cfg, db, size, workers, workdir, tag, *seeded)


def _measure_scimd(cfg: Config, db: str, size: int, workers: int, workdir: Path, tag: str,
                   env: dict[str, str], token: str, ids: list[str], sqlite_path: Path,
                   dbname: str) -> dict[str, Any]:
    server = None
    try:
        size_seeded = db_size(db, sqlite_path, dbname)
        port = free_port()
        server = Server("scimd", [str(PROJECT_BIN / "scimd"), "serve", "--host", HOST,
                                  "--port", str(port), "--workers", str(workers)],
                        env, "/healthz", port, workdir / f"scimd-{tag}.log", 120)
        scenarios, members = _scenarios(cfg, server, token, "/scim/v2", ids, size, workdir,
                                        f"s{size}w{workers}")
        memory = server.memory()
        server.stop()
        server = None
        floor = same_cost = None
        if db == "sqlite" and workers == 1 and cfg.ceiling:
            if "get_user" in scenarios:
                floor = _reference("floor", lambda: run_floor(cfg, sqlite_path, token, ids,
                                                              size, workdir))
            if "list_page" in scenarios:
                same_cost = _reference("same cost", lambda: run_same_cost(
                    cfg, scenarios["list_page"], size, workdir))
        return {"target": "scimd", "db": db, "size": size, "workers": workers,
                "scenarios": scenarios, "members": members, "memory": memory, "floor": floor,
                "same_cost": same_cost,
                "db_size_mb": {"seeded": size_seeded,
                               "after_run": db_size(db, sqlite_path, dbname)}}
    finally:
        if server is not None:
            server.stop()


def db_size(db: str, sqlite_path: Path, dbname: str) -> float:
    if db == "sqlite":
        return round(sqlite_size(sqlite_path) / 2**20, 1)
    return round(pg_admin(f"SELECT pg_database_size('{dbname}')")[0] / 2**20, 1)


# -- report ------------------------------------------------------------------------------


def _fmt(x: Any, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _cpu(s: dict[str, Any]) -> str:
    """Cores used by the server, PostgreSQL and other people's processes; '!' marks a
    measurement that shared the machine with more than a quarter of a core of others."""
    if "cpu_server" not in s:
        return "-"
    flag = " !" if s["cpu_other"] > 0.25 else ""
    return f"{s['cpu_server']:.2f}/{s['cpu_db']:.2f}/{s['cpu_other']:.2f}{flag}"


def _underdriven(s: dict[str, Any], connections: int) -> bool:
    """Little's law: a closed loop of N connections keeps about N requests in flight
    (req/s x mean latency). Far fewer means the load did not reach the server as asked."""
    return bool(s.get("rps") and s.get("mean_ms")) and \
        s["rps"] * s["mean_ms"] / 1000 < connections / 2


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "-"


def report(cfg: Config, runs: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    ceiling = {r["workers"]: r["scenarios"]["ceiling"] for r in runs if r["target"] == "ceiling"}
    peers = {r["size"]: r for r in runs if r["target"] == "peer"}
    scimd = [r for r in runs if r["target"] == "scimd"]
    out = [f"# scimd benchmark {cfg.tag}{' (--quick)' if cfg.quick else ''}", ""]
    out += [f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, "
            f"{machine['os']}; Python {machine['python']}; wrk -t1 -c{cfg.connections}, "
            f"{cfg.duration:g} s per scenario after {cfg.warmup:g} s of warm-up. scimd at "
            f"{machine['git'].get('commit', '?')} with {machine['git'].get('src_changes', '?')} "
            f"uncommitted file(s) in src/"
            + (f"; scimd env {' '.join(cfg.scimd_env)}" if cfg.scimd_env else "") + ".", ""]
    if machine.get("jitter"):
        j = machine["jitter"]
        out += [f"CPU jitter (`cpu_jitter`, the same pure-Python loop 3,000 times): p50 "
                f"{j['p50_ms']} ms, p99 {j['p99_ms']} ms, max {j['max_ms']} ms.", ""]
    out += ["Ceiling (bare ASGI, fixed 1 KB JSON): " + ", ".join(
        f"{w} worker(s) {_fmt(c.get('rps'))} req/s, p50 {_fmt(c.get('p50_ms'), 2)} ms, "
        f"p99 {_fmt(c.get('p99_ms'), 2)} ms (cpu srv/db/other {_cpu(c)})"
        for w, c in sorted(ceiling.items())) or "-", ""]

    out += ["## Requests", "",
            "| db | users | w | scenario | req/s | p50 ms | p99 ms | vs ceiling "
            "| peer req/s | peer p50 | peer p99 | vs peer | err | cpu srv/db/other |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in scimd:
        peer = peers.get(r["size"], {}).get("scenarios", {})
        ceil = ceiling.get(r["workers"], {}).get("rps")
        for name in READS + GROUP_READS + WRITES:
            s = r["scenarios"].get(name)
            if s is None:
                continue
            p = peer.get(name, {})
            if p.get("group_members") != s.get("group_members"):
                p = {}  # groups of different sizes are not compared
            label = LABELS[name]
            if name.startswith("group_get"):
                label += f" ({_fmt(s.get('group_members'))} members)"
            err = "probe: " + s["probe_problem"] if s.get("probe_problem") else \
                f"{s.get('error_rate', 0):.1%}"
            if s.get("mode") == "sequential":
                err += f" (seq, {s['requests']} req)"
            elif _underdriven(s, cfg.connections):
                err += " (L)"
            if p.get("mode") == "sequential":
                err += f" (peer seq, {p['requests']} req)"
            elif _underdriven(p, cfg.connections):
                err += " (peer L)"
            out.append(
                f"| {r['db']} | {_fmt(r['size'])} | {r['workers']} | {label} | "
                f"{_fmt(s.get('rps'))} | {_fmt(s.get('p50_ms'), 2)} | {_fmt(s.get('p99_ms'), 2)} "
                f"| {_ratio(s.get('rps'), ceil)} | {_fmt(p.get('rps'))} | "
                f"{_fmt(p.get('p50_ms'), 2)} | {_fmt(p.get('p99_ms'), 2)} | "
                f"{_ratio(s.get('rps'), p.get('rps'))} | {err} | {_cpu(s)} |")
            f = r.get("floor") if name == "get_user" else None
            if f and f.get("rps"):
                out.append(_reference_row(r, f"{label}: floor (bench/floor_app.py)", f, ceil, p))
            c = r.get("same_cost") if name == "list_page" else None
            if c and c.get("rps"):
                out.append(_reference_row(
                    r, f"{label}: the same CPU and bytes, bare ASGI (bench/same_cost_app.py; "
                    f"CPU per request {_fmt(c.get('own_cpu_us'))} µs, scimd's "
                    f"{_fmt(c.get('scimd_cpu_us'))})", c, ceil, None))

    out += ["", "## Adding members in batches of 100 (one connection)", "",
            "Median ms per batch over 5 batches: 'first' = group holding 100 to 500 members, "
            "'last' = the last 5 batches (up to 15,000 members, or the users seeded).", "",
            "| server | db | users | w | variant | members | first | ~1,000 | ~5,000 "
            "| ~10,000 | last | last/first | answer at end | cpu srv/db/other |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in [*scimd, *peers.values()]:
        for variant, m in r.get("members", {}).items():
            out.append(
                f"| {r['target']} | {r.get('db', 'memory')} | {_fmt(r['size'])} | "
                f"{r['workers']} | {variant} | {_fmt(m['members'])}"
                f"{'' if m['complete'] else ' (time limit)'} | {_fmt(m['first_ms'], 2)} | "
                f"{_fmt(m['at_1000_ms'], 2)} | {_fmt(m['at_5000_ms'], 2)} | "
                f"{_fmt(m['at_10000_ms'], 2)} | {_fmt(m['last_ms'], 2)} | "
                f"{_fmt(m['growth'], 2)} | {m['status']}, {_fmt(m['last_response_bytes'])} B "
                f"| {_cpu(m)} |")

    out += ["", "## Memory and disk", "",
            "| server | db | users | w | peak RSS MB (largest process) | peak RSS MB (all "
            "processes) | db MB seeded | db MB after run |", "|---|---|---|---|---|---|---|---|"]
    for r in [*runs]:
        mem = r.get("memory", {})
        dbs = r.get("db_size_mb", {})
        out.append(f"| {r['target']} | {r.get('db', '-')} | {_fmt(r.get('size'))} | "
                   f"{r['workers']} | {_fmt(mem.get('peak_rss_mb'))} | "
                   f"{_fmt(mem.get('peak_tree_rss_mb'))} | {_fmt(dbs.get('seeded'))} | "
                   f"{_fmt(dbs.get('after_run'))} |")

    out += ["", "## Budget", ""] + [f"- {line}" for line in verdicts(runs, ceiling, peers)]
    return "\n".join(out) + "\n"


def _reference_row(r: dict[str, Any], label: str, ref: dict[str, Any], ceil: float | None,
                   peer: dict[str, Any] | None) -> str:
    """A reference app's row under scimd's: against the ceiling, and against the peer's
    figures for the same scenario when they are given."""
    if peer is None:
        peer_cells = "- | - | - | -"
    else:
        peer_cells = (f"{_fmt(peer.get('rps'))} | {_fmt(peer.get('p50_ms'), 2)} | "
                      f"{_fmt(peer.get('p99_ms'), 2)} | {_ratio(ref['rps'], peer.get('rps'))}")
    return (f"| {r['db']} | {_fmt(r['size'])} | {r['workers']} | {label} | "
            f"{_fmt(ref['rps'])} | {_fmt(ref['p50_ms'], 2)} | {_fmt(ref['p99_ms'], 2)} | "
            f"{_ratio(ref['rps'], ceil)} | {peer_cells} | {ref.get('error_rate', 0):.1%} | "
            f"{_cpu(ref)} |")


def verdicts(runs: list[dict[str, Any]], ceiling: dict, peers: dict) -> list[str]:
    scimd = [r for r in runs if r["target"] == "scimd"]
    lines = []

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "FAIL")

    # 1. GET by id >= 50% of the ceiling, single worker, SQLite.
    c1 = ceiling.get(1, {}).get("rps")
    parts = []
    for r in scimd:
        if r["db"] == "sqlite" and r["workers"] == 1 and c1:
            rps = r["scenarios"].get("get_user", {}).get("rps")
            floor = (r.get("floor") or {}).get("rps")
            if rps:
                parts.append((rps / c1 >= 0.5, f"{r['size']:,} users {rps / c1:.0%}"
                              + (f" (the floor: {floor / c1:.0%})" if floor else "")))
    lines.append(_line("GET by id >= 50% of the ceiling's req/s (SQLite, 1 worker)", parts))

    # 2. userName eq at 100k within 20% of its cost at 10k (cost = 1 / req/s).
    parts = []
    for db in ("sqlite", "postgres"):
        for w in (1, 2):
            by = {r["size"]: r["scenarios"].get("filter_username", {}).get("rps")
                  for r in scimd if r["db"] == db and r["workers"] == w}
            if by.get(10_000) and by.get(100_000):
                growth = by[10_000] / by[100_000]
                parts.append((growth <= 1.2, f"{db} {w}w cost x{growth:.2f}"))
    lines.append(_line("userName eq at 100,000 users within 20% of its cost at 10,000", parts))

    # 3. Member add at 15,000 within 50% of the batch at 100.
    parts = []
    for r in scimd:
        for variant, m in r.get("members", {}).items():
            if m.get("growth") is None:
                continue
            label = f"{r['db']} {r['size']:,} {r['workers']}w {variant} x{m['growth']:.2f}"
            if m["members"] < MEMBER_CAP:
                label += f" (only to {m['members']:,} members)"
            ok = m["growth"] <= 1.5 if m["members"] >= MEMBER_CAP else None
            parts.append((ok, label))
    lines.append(_line("adding 100 members at 15,000 members within 50% of the batch at 100",
                       parts))

    # 4. List page p99 < 25 ms at 100k (random depth, so deep pages are in the p99).
    parts = []
    for r in scimd:
        p99 = r["scenarios"].get("list_page", {}).get("p99_ms")
        same = (r.get("same_cost") or {}).get("p99_ms")
        if p99 is not None and r["size"] >= 100_000:
            parts.append((p99 < 25, f"{r['db']} {r['workers']}w p99 {p99:.1f} ms"
                          + (f" (a bare app of the same cost: {same:.1f} ms)" if same else "")))
    lines.append(_line("list page of 100: p99 under 25 ms at 100,000 users", parts))

    # 5. Each scenario >= 5x the peer (same size, the peer has one worker).
    parts = []
    for r in scimd:
        peer = peers.get(r["size"])
        if peer is None or r["workers"] != 1:
            continue
        for name, s in r["scenarios"].items():
            p = peer["scenarios"].get(name, {})
            if p.get("group_members") != s.get("group_members"):
                continue
            if s.get("rps") and p.get("rps"):
                ratio = s["rps"] / p["rps"]
                parts.append((ratio >= 5, f"{r['db']} {r['size']:,} {name} x{ratio:.1f}"))
        for variant, m in r.get("members", {}).items():
            pm = peer.get("members", {}).get(variant, {})
            if m.get("last_ms") and pm.get("last_ms") and m["members"] == pm["members"]:
                ratio = pm["last_ms"] / m["last_ms"]
                parts.append((ratio >= 5, f"{r['db']} {r['size']:,} {variant} (last batches) "
                                          f"x{ratio:.1f}"))
    lines.append(_line("each scenario >= 5x the peer's req/s (1 worker)", parts))

    # 6. RSS < 200 MB at 100k.
    parts = []
    for r in scimd:
        if r["size"] >= 100_000:
            rss = r["memory"]["peak_rss_mb"]
            parts.append((rss < 200, f"{r['db']} {r['workers']}w {rss:.0f} MB"))
    lines.append(_line("server RSS under 200 MB at 100,000 users (largest process)", parts))
    return lines


def _line(title: str, parts: list[tuple[bool | None, str]]) -> str:
    if not parts:
        return f"**n/a** {title}: not measured in this run"
    known = [ok for ok, _ in parts if ok is not None]
    status = "n/a" if not known else ("PASS" if all(known) else "FAIL")
    detail = "; ".join(f"{text} {'' if ok is None else ('ok' if ok else 'FAIL')}".rstrip()
                       for ok, text in parts)
    return f"**{status}** {title}: {detail}"


def machine_info() -> dict[str, Any]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                   cpu)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    git = {}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, text=True,
                               capture_output=True, timeout=10).stdout.splitlines()
        git = {"commit": head, "src_changes": len(dirty)}
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem),
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "git": git, "jitter": cpu_jitter()}


def cpu_jitter(rounds: int = 3000) -> dict[str, float]:
    """The machine's own tail: the same pure-Python loop (about 1 ms) timed ``rounds``
    times, nothing else running. On a quiet core its p99 is close to its p50; a VM whose
    host takes the core away now and then shows it here, and in every p99 of the run."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        total = 0
        for i in range(15_000):
            total += i
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return {"p50_ms": round(times[len(times) // 2], 2),
            "p99_ms": round(times[int(len(times) * 0.99)], 2), "max_ms": round(times[-1], 2)}


# -- profiling ---------------------------------------------------------------------------


def run_profile(cfg: Config, workdir: Path) -> None:
    """py-spy against scimd (1 worker, the first of ``--dbs`` and of ``--sizes``) while
    wrk drives the hot read scenarios."""
    db, size = cfg.dbs[0], cfg.sizes[0]
    with seeded_scimd(cfg, db, size, 1, workdir, f"profile-{db}-{size}") as seeded:
        env, token, ids, _, _ = seeded
        _profile(cfg, workdir, env, token, ids)


def _profile(cfg: Config, workdir: Path, env: dict[str, str], token: str,
             ids: list[str]) -> None:
    from profile_report import summarize

    py_spy = shutil.which("py-spy") or str(PEER_BIN / "py-spy")
    port = free_port()
    server = Server("scimd", [str(PROJECT_BIN / "scimd"), "serve", "--host", HOST,
                              "--port", str(port)], env, "/healthz", port,
                    workdir / "profile-scimd.log", 120)
    reports = []
    try:
        for name in [s for s in ("get_user", "filter_username", "filter_email", "list_page",
                                   *WRITES) if s in cfg.scenarios]:
            lines = request_lines(name, "/scim/v2", ids, random.Random(7), "prof")
            run_wrk(port, lines, token, cfg.warmup or 1, cfg.connections, workdir, name)
            raw = workdir / f"profile-{name}.txt"
            # --gil: only the thread holding the GIL is sampled, so the profile is where
            # Python's CPU goes (py-spy's idle detection does not work in this VM: without
            # it, threads parked in the pool's Condition.wait fill the profile).
            spy = subprocess.Popen([py_spy, "record", "--pid", str(server.proc.pid),
                                    "--duration", str(round(cfg.duration)), "--rate",
                                    str(PROFILE_RATE), "--gil", "--format", "raw", "-o",
                                    str(raw)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            result = run_wrk(port, lines, token, cfg.duration, cfg.connections, workdir, name,
                             server.proc.pid)
            spy.wait(timeout=cfg.duration + 60)
            reports.append(f"## {name}: {result['rps']:.0f} req/s under py-spy "
                           f"(p50 {result['p50_ms']:.2f} ms, server CPU "
                           f"{result['cpu_server']:.2f} cores, others "
                           f"{result['cpu_other']:.2f})\n\n"
                           + summarize(raw, expected=PROFILE_RATE * round(cfg.duration)))
            log(f"  profiled {name}: {raw}")
    finally:
        server.stop()
    text = "\n".join(reports)
    (RESULTS / f"profile-{cfg.tag}.md").write_text(text)
    print(text)


# -- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> tuple[Config, bool]:
    parser = argparse.ArgumentParser(description="scimd benchmark (see bench/README.md)")
    parser.add_argument("--quick", action="store_true",
                        help="about two minutes: 10,000 users, SQLite and PostgreSQL, 1 worker")
    parser.add_argument("--sizes", help="comma-separated user counts (10000,100000)")
    parser.add_argument("--dbs", help="comma-separated: sqlite,postgres")
    parser.add_argument("--workers", help="comma-separated worker counts (1,2)")
    parser.add_argument("--duration", type=float, help="seconds of load per scenario")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--member-time-limit", type=float,
                        help="seconds at most for each member-growth series")
    parser.add_argument("--quiet-wait", type=float,
                        help="seconds to wait, before each measurement, for other processes "
                        "to use under a quarter of a core (0 with --quick, else 20)")
    parser.add_argument("--scenarios", help="comma-separated subset of: " + ", ".join(
        READS + MEMBER_VARIANTS + GROUP_READS + WRITES))
    parser.add_argument("--scimd-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for scimd (repeat), e.g. SCIMD_ACCESS_LOG=off")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON",
                        help="print the report of saved bench/results/bench-*.json files "
                        "again (several: one report over all their runs)")
    parser.add_argument("--profile", action="store_true",
                        help="profile scimd with py-spy on the hot reads instead")
    args = parser.parse_args(argv)
    quick = args.quick

    def ints(text: str | None, default: list[int]) -> list[int]:
        return [int(x) for x in text.split(",")] if text else default

    cfg = Config(
        sizes=ints(args.sizes, [10_000] if quick else [10_000, 100_000]),
        dbs=args.dbs.split(",") if args.dbs else ["sqlite", "postgres"],
        workers=ints(args.workers, [1] if quick else [1, 2]),
        duration=args.duration or (2.0 if quick else 10.0),
        warmup=args.warmup if args.warmup is not None else (0.0 if quick else 2.0),
        connections=args.connections,
        peer=not args.no_peer,
        ceiling=not args.no_ceiling,
        member_time_limit=args.member_time_limit or (8.0 if quick else 300.0),
        quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if quick else 20.0),
        quick=quick,
        scenarios=args.scenarios.split(",") if args.scenarios else
        READS + MEMBER_VARIANTS + GROUP_READS + WRITES,
        scimd_env=args.scimd_env,
        report=args.report,
    )
    for db in cfg.dbs:
        if db not in ("sqlite", "postgres"):
            parser.error(f"unknown database {db}")
    return cfg, args.profile


def save(cfg: Config, runs: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    text = report(cfg, runs, machine)
    (RESULTS / f"bench-{cfg.tag}.md").write_text(text)
    config = {k: v for k, v in cfg.__dict__.items() if k != "report"}
    (RESULTS / f"bench-{cfg.tag}.json").write_text(json.dumps(
        {"config": config, "machine": machine, "runs": runs}, indent=1))
    return text


def main(argv: list[str] | None = None) -> None:
    cfg, profile = parse_args(argv)
    if cfg.report is not None:
        saved = [json.loads(path.read_text()) for path in cfg.report]
        old = Config(**{k: v for k, v in saved[0]["config"].items() if k != "report"})
        if len(saved) > 1:
            old.tag = " + ".join(s["config"]["tag"] for s in saved)
        runs = [r for s in saved for r in s["runs"]]
        print(report(old, runs, saved[0]["machine"]))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk (see bench/README.md)")
    RESULTS.mkdir(exist_ok=True)
    workdir = RESULTS / f"work-{cfg.tag}"
    workdir.mkdir(exist_ok=True)
    if profile:
        run_profile(cfg, workdir)
        return
    if cfg.peer and not (PEER_BIN / "python").exists():
        raise SystemExit("the peer needs bench/.venv-peer: sh bench/setup.sh (bench/README.md)")
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    machine = machine_info()
    try:
        plan: list[Any] = []
        if cfg.ceiling:
            plan += [(run_ceiling, w) for w in cfg.workers]
        if cfg.peer:
            plan += [(run_peer, size) for size in cfg.sizes]
        plan += [(run_scimd, db, size, w) for size in cfg.sizes for db in cfg.dbs
                 for w in cfg.workers]
        for fn, *target in plan:
            runs.append(fn(cfg, *target, workdir))
            save(cfg, runs, machine)  # a partial report survives an interrupted run
    finally:
        text = save(cfg, runs, machine)
        print(text)
        log(f"done in {time.monotonic() - started:.0f} s; results in {RESULTS}")


if __name__ == "__main__":
    main()
