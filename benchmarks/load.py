"""Load and faults: the demo under gunicorn with Redis storage and a Sentry ingest, on loopback.

Run: ``python benchmarks/load.py`` (about 3 minutes), or ``--short`` (about a minute; CI runs
it). Phases: healthy, upstream failing, upstream hanging, upstream recovered, Sentry ingest
down, Redis down, Redis back. Each prints requests, status mix, latency, and the figures
below; the run fails (exit status 1) when a correctness figure is off:

* error responses that are not JSON (goal 0);
* 5xx whose error id never reached the Sentry ingest while it was up (goal 0; calls rejected
  by an open breaker are not events, by design, and are left out);
* errors caused by Sentry or Redis being down, with a healthy upstream (goal 0).

Latency figures (p99 of rejected calls while the upstream hangs: goal < 5 ms) and upstream
calls made while the breaker was open are printed, not asserted.

Then "upstream trickles/hangs with a bulkhead": a second gunicorn with a request budget
(``GUARD_REQUEST_TIMEOUT``) and a per-host bulkhead (``GUARD_HTTP_MAX_CONCURRENT``), and no
breaker to hide behind, serves the paying route (to as many clients as it has threads) and a
route that never calls the upstream side by side, while the upstream is healthy, trickles
one byte every half second, then hangs. Figures: the throughput of the route without the
dependency against the healthy phase (goal >= 90%, printed), responses slower than the
budget plus 0.5 s to answer (goal 0) and gunicorn worker timeouts or unanswered requests
(goal 0), both asserted by the full run (``--short`` prints them: too short to judge timings).

Last, "defaults": an app with nothing but ``FlaskGuard(app)`` (every setting at its default)
under gunicorn gthread, 2 workers x 4 threads; 8 clients call a route whose dependency
answers, then stalls (holds every call until the phase ends), while 4 clients call a route
that never calls it (each phase at least 10 s, with ``--short`` too). The same app with
``GUARD_HTTP_MAX_CONCURRENT = 1000`` (a bulkhead never reached: the session as it was before
the adaptive per-host limit) runs next, as the peer.
Asserted for the defaults: the route without the dependency keeps >= 50% of its healthy
throughput, no response takes longer than gunicorn's worker timeout (30 s), none goes
unanswered. The peer's figures are printed.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from werkzeug import Request, Response
from werkzeug.serving import make_server

from flask_guard.testing import RedisServer, SentryIngest, free_port

ROOT = Path(__file__).resolve().parent.parent
WORKERS, THREADS, CLIENTS = 3, 4, 4
BREAKER_KEY = "load:{payments}"
RECOVERY_TIMEOUT = 2
TIMEOUT, RETRIES = 0.5, 1
WITHOUT_BREAKER = TIMEOUT * (RETRIES + 1)  # what a call to a hanging upstream waits
SECONDS = [15.0]
# The bulkhead phases: per worker, at most BULKHEAD calls in flight to the upstream; each
# request has a BUDGET of seconds (GUARD_REQUEST_TIMEOUT; GUARD_HTTP_TOTAL_TIMEOUT keeps its
# default), and a response may take SLACK more to be rendered and sent. As many clients pay
# as the server has threads: without the bulkhead they would hold every one of them.
BULKHEAD, BUDGET, SLACK = 2, 1.5, 0.5
# The totals that are timings (latency, throughput), asserted by the full run only.
TIMED_FIGURES = frozenset({"bulkhead", "defaults"})
PAYING_CLIENTS = WORKERS * THREADS
TRICKLE_INTERVAL = 0.5


class Upstream:
    """The payments service: answers, fails or hangs; counts calls made while the breaker
    was open (as Redis holds it)."""

    def __init__(self, redis_url: str) -> None:
        self.mode = "ok"
        self.released = threading.Event()  # ends the stall of the calls held in "stall"
        self.calls = 0
        self.calls_while_open = 0
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.2)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            self.calls += 1
            mode = self.mode
        try:
            if self._redis.hget(BREAKER_KEY, "s") == b"open":
                with self._lock:
                    self.calls_while_open += 1
        except redis.RedisError:
            pass  # the Redis-down phase
        if mode == "trickle":
            start_response("200 OK", [("Content-Length", "1000")])
            return self._trickle()
        if mode == "hang":
            time.sleep(3)
        if mode == "stall":
            self.released.wait(60)
        if mode == "fail":
            response = Response('{"error": "down"}', status=503, mimetype="application/json")
        else:
            response = Response(
                json.dumps({"charged": True, "path": request.path}), mimetype="application/json"
            )
        return response(environ, start_response)

    @staticmethod
    def _trickle() -> Any:
        for _ in range(1000):
            time.sleep(TRICKLE_INTERVAL)
            yield b" "


@dataclass
class Result:
    status: int
    seconds: float
    json_body: bool
    error_id: str | None
    rejected: bool


@dataclass
class Phase:
    name: str
    upstream: str
    sentry_up: bool
    healthy_upstream: bool
    results: list[Result] = field(default_factory=list)
    calls_while_open: int = 0


def drive(
    base_url: str,
    seconds: float,
    method: str = "POST",
    path: str = "/orders/1/pay",
    clients: int = CLIENTS,
    timeout: float = 15,
    keep_alive: bool = True,
) -> list[Result]:
    """Send requests from ``clients`` threads for ``seconds``; each client keeps its
    connection unless not ``keep_alive``."""
    results: list[Result] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        session = requests.Session()
        if not keep_alive:
            session.headers["Connection"] = "close"
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = session.request(method, f"{base_url}{path}", timeout=timeout)
            except requests.RequestException:  # unanswered: a dead worker, a hung thread
                result = Result(0, time.perf_counter() - started, False, None, False)
            else:
                result = _result(response, time.perf_counter() - started)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _result(response: requests.Response, elapsed: float) -> Result:
    if response.status_code < 400:
        return Result(response.status_code, elapsed, True, None, False)
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return Result(response.status_code, elapsed, False, None, False)
    rejected = error.get("code") == "SERVICE_UNAVAILABLE"
    return Result(response.status_code, elapsed, True, error.get("id"), rejected)


class Served:
    """A WSGI app on a loopback port, in a thread, that can be stopped."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_gunicorn(
    port: int,
    redis_url: str,
    upstream_url: str,
    dsn: str,
    overrides: dict[str, str] | None = None,
    log_path: Path = ROOT / "benchmarks" / ".load-gunicorn.log",
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SENTRY_DSN": dsn,
        "FLASK_PAYMENTS_URL": upstream_url,
        "FLASK_GUARD_BREAKER_STORAGE": redis_url,
        "FLASK_GUARD_REDIS_PREFIX": "load",
        "FLASK_GUARD_BREAKER_DEFAULTS": json.dumps(
            {"failure_threshold": 5, "recovery_timeout": RECOVERY_TIMEOUT}
        ),
        "FLASK_GUARD_HTTP_TIMEOUT": json.dumps([TIMEOUT, TIMEOUT]),
        "FLASK_GUARD_HTTP_RETRIES": str(RETRIES),
        **(overrides or {}),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(WORKERS),
        "--threads",
        str(THREADS),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "30",
        "sample_app:create_app()",
    ]
    log = open(log_path, "wb")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    for _ in range(200):
        try:
            requests.get(f"http://127.0.0.1:{port}/orders/1", timeout=5)
            return process
        except requests.RequestException:  # not listening yet, or workers still booting
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"gunicorn did not start; see {log_path}")


def missing_ids(ingest: SentryIngest, phase: Phase, wait: float = 5) -> int:
    """Count the phase's 5xx (not rejections) whose event never reached the ingest."""
    wanted = {r.error_id for r in phase.results if r.status >= 500 and not r.rejected}
    wanted.discard(None)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not wanted <= set(ingest.events):
        time.sleep(0.1)
    return len(wanted - set(ingest.events))


def report(phase: Phase, missing: int | None) -> dict[str, int]:
    results = phase.results
    latencies = sorted(r.seconds for r in results) or [0.0]
    rejected = sorted(r.seconds for r in results if r.rejected)
    mix = collections.Counter(r.status for r in results)
    non_json = sum(1 for r in results if r.status >= 400 and not r.json_body)
    caused = sum(1 for r in results if r.status != 200) if phase.healthy_upstream else 0
    sentry = "up" if phase.sentry_up else "down"
    print(f"\n== {phase.name}: upstream {phase.upstream}, Sentry {sentry}")
    print(f"   requests {len(results)}, status mix {dict(sorted(mix.items()))}")
    print(f"   latency p50 {_ms(latencies, 0.5)} ms, p99 {_ms(latencies, 0.99)} ms")
    if rejected:
        print(
            f"   rejected by the breaker: {len(rejected)}, p50 {_ms(rejected, 0.5)} ms, "
            f"p99 {_ms(rejected, 0.99)} ms (a call without a breaker waits {WITHOUT_BREAKER} s)"
        )
    print(f"   non-JSON error responses: {non_json} (goal 0)")
    if missing is not None:
        print(f"   5xx whose error id is missing at the ingest: {missing} (goal 0)")
    windows = int(SECONDS[0] // RECOVERY_TIMEOUT)
    print(
        f"   upstream calls while the breaker was open: {phase.calls_while_open} "
        f"(the phase held {windows} recovery windows of one fleet-wide trial each)"
    )
    if phase.healthy_upstream:
        print(f"   errors caused by the outage: {caused} (goal 0)")
    return {"non_json": non_json, "missing": missing or 0, "caused": caused}


def bulkhead_phases(upstream: Upstream, upstream_url: str, redis_url: str, dsn: str) -> int:
    """Run the bulkhead phases, then the trickle without a bulkhead for reference; return
    how many correctness figures are off."""
    print(
        f"\n== upstream trickles/hangs with a bulkhead: request budget {BUDGET} s, at most "
        f"{BULKHEAD} upstream calls per worker, {PAYING_CLIENTS} clients paying and "
        f"{CLIENTS} on a route without the upstream"
    )
    services = (upstream_url, redis_url, dsn)
    throughput: dict[str, float] = {}
    off = serve_with_budget(upstream, services, ["ok", "trickle", "hang"], throughput)
    print(
        "   the same trickle without a fixed bulkhead, so with the adaptive per-host limit "
        "(for reference, not asserted):"
    )
    serve_with_budget(upstream, services, ["trickle"], throughput, bulkhead=False)
    return off


def serve_with_budget(
    upstream: Upstream,
    services: tuple[str, str, str],
    modes: list[str],
    throughput: dict[str, float],
    bulkhead: bool = True,
) -> int:
    """Serve the demo with a request budget (and a bulkhead) while the upstream goes through
    ``modes``; return how many correctness figures are off."""
    upstream_url, redis_url, dsn = services
    overrides = {
        "FLASK_GUARD_BREAKER_STORAGE": "memory",
        "FLASK_GUARD_BREAKER_DEFAULTS": json.dumps({"failure_threshold": 10**6}),
        "FLASK_GUARD_HTTP_TIMEOUT": json.dumps([1.0, 1.0]),
        "FLASK_GUARD_REQUEST_TIMEOUT": str(BUDGET),
    }
    if bulkhead:
        overrides["FLASK_GUARD_HTTP_MAX_CONCURRENT"] = str(BULKHEAD)
    port = free_port()
    log_path = Path(tempfile.mkdtemp()) / "gunicorn.log"
    gunicorn = start_gunicorn(port, redis_url, upstream_url, dsn, overrides, log_path)
    off = 0
    try:
        for mode in modes:
            upstream.mode = mode
            both = drive_side_by_side(f"http://127.0.0.1:{port}", SECONDS[0])
            label = mode if bulkhead else f"{mode}, no fixed bulkhead"
            throughput[label] = len(both["other"]) / SECONDS[0]
            off += bulkhead_report(label, both, throughput)
            upstream.mode = "ok"
            time.sleep(BUDGET)  # the cut calls end before the next phase
    finally:
        gunicorn.terminate()
        gunicorn.wait(30)
    timeouts = log_path.read_text().count("WORKER TIMEOUT")
    print(f"   gunicorn worker timeouts: {timeouts} (goal 0)")
    return off + timeouts


def drive_side_by_side(base_url: str, seconds: float) -> dict[str, list[Result]]:
    """Drive the paying route and a route without the upstream at the same time."""
    routes = {
        "pay": ("POST", "/orders/1/pay", PAYING_CLIENTS),
        "other": ("GET", "/orders/1", CLIENTS),
    }
    both: dict[str, list[Result]] = {}

    def run(name: str) -> None:
        method, path, clients = routes[name]
        both[name] = drive(base_url, seconds, method, path, clients)

    drivers = [threading.Thread(target=run, args=(name,)) for name in routes]
    for driver in drivers:
        driver.start()
    for driver in drivers:
        driver.join()
    return both


def bulkhead_report(
    label: str, both: dict[str, list[Result]], throughput: dict[str, float]
) -> int:
    results = both["pay"] + both["other"]
    over = sum(1 for r in results if r.seconds > BUDGET + SLACK)
    unanswered = sum(1 for r in results if r.status == 0)
    mix = collections.Counter(r.status for r in both["pay"])
    ratio = throughput[label] / throughput["ok"]
    latencies = sorted(r.seconds for r in results) or [0.0]
    print(f"   upstream {label}: paying route status mix {dict(sorted(mix.items()))}")
    print(
        f"     route without the dependency: {throughput[label]:.0f} req/s, "
        f"{ratio:.0%} of the healthy phase (goal >= 90%)"
    )
    print(
        f"     responses slower than the budget + {SLACK} s: {over} of {len(results)} (goal 0); "
        f"slowest {latencies[-1] * 1000:.0f} ms; unanswered: {unanswered} (goal 0)"
    )
    return over + unanswered


DEFAULTS_APP = """
import os

from flask import Flask

from flask_guard import FlaskGuard

app = Flask(__name__)
app.config.from_prefixed_env()  # nothing for the defaults; the peer's one setting
guard = FlaskGuard(app)


@app.get("/pay")
def pay():
    return guard.session.get(os.environ["PAYMENTS_URL"] + "/charges/1").json()


@app.get("/other")
def other():
    return {"ok": True}
"""
DEFAULTS_WORKERS, DEFAULTS_THREADS = 2, 4
DEFAULTS_PAYING, DEFAULTS_OTHER = 8, 4
WORKER_TIMEOUT = 30.0
DEFAULTS_GOAL = 0.5


def defaults_phases(upstream: Upstream, upstream_url: str) -> int:
    """Run the defaults phase, ours then the peer; return how many figures are off."""
    print(
        f"\n== defaults: only FlaskGuard(app), gunicorn gthread {DEFAULTS_WORKERS} workers x "
        f"{DEFAULTS_THREADS} threads; {DEFAULTS_PAYING} clients on a route whose dependency "
        f"stalls, {DEFAULTS_OTHER} on a route without it"
    )
    off = serve_defaults(upstream, upstream_url, "defaults", {}, assert_goals=True)
    peer = {"FLASK_GUARD_HTTP_MAX_CONCURRENT": "1000"}
    serve_defaults(upstream, upstream_url, "peer: no per-host limit", peer, assert_goals=False)
    return off


def serve_defaults(
    upstream: Upstream,
    upstream_url: str,
    label: str,
    env: dict[str, str],
    assert_goals: bool,
) -> int:
    """Serve the defaults app while the dependency answers, then stalls; print the figures
    and return how many asserted ones are off."""
    folder = Path(tempfile.mkdtemp())
    (folder / "defaults_app.py").write_text(DEFAULTS_APP)
    port = free_port()
    log_path = folder / "gunicorn.log"
    command = [
        *(sys.executable, "-m", "gunicorn", "--worker-class", "gthread"),
        *("--workers", str(DEFAULTS_WORKERS), "--threads", str(DEFAULTS_THREADS)),
        *("--bind", f"127.0.0.1:{port}", "--timeout", str(int(WORKER_TIMEOUT))),
        "defaults_app:app",
    ]
    environment = {**os.environ, "PAYMENTS_URL": upstream_url, "PYTHONPATH": str(folder), **env}
    with open(log_path, "wb") as log:
        gunicorn = subprocess.Popen(command, cwd=folder, env=environment, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_served(f"{base_url}/other", gunicorn)
        results = {}
        for mode in ("ok", "stall"):
            upstream.released.clear()
            upstream.mode = mode
            results[mode] = drive_routes(base_url, _defaults_seconds())
            upstream.mode = "ok"
            upstream.released.set()  # the held calls end, before the next phase
    finally:
        gunicorn.terminate()
        gunicorn.wait(30)
    timeouts = log_path.read_text().count("WORKER TIMEOUT")
    return defaults_report(label, results, timeouts, assert_goals)


def _defaults_seconds() -> float:
    """Each defaults phase lasts at least 10 s: the second in which the first stalled calls
    become overdue, and every thread waits, must not weigh a fifth of the phase."""
    return max(SECONDS[0], 10.0)


def _wait_until_served(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(400):
        try:
            requests.get(url, timeout=10)
            return
        except requests.RequestException:  # not listening yet, or a worker still booting
            if process.poll() is not None:
                break
            time.sleep(0.05)
    raise RuntimeError(f"gunicorn did not serve {url}")


def drive_routes(base_url: str, seconds: float) -> dict[str, list[Result]]:
    """Drive the route with the dependency and the one without, side by side."""
    routes = {"pay": ("/pay", DEFAULTS_PAYING), "other": ("/other", DEFAULTS_OTHER)}
    both: dict[str, list[Result]] = {}

    def run(name: str) -> None:
        path, clients = routes[name]
        # Clients wait longer than the worker timeout, to see a response that would pass it,
        # and open a connection per request, as many clients do: each worker takes its share
        # of them, a worker whose threads are all held included.
        both[name] = drive(base_url, seconds, "GET", path, clients, WORKER_TIMEOUT * 2, False)

    drivers = [threading.Thread(target=run, args=(name,)) for name in routes]
    for driver in drivers:
        driver.start()
    for driver in drivers:
        driver.join()
    return both


def defaults_report(
    label: str, results: dict[str, dict[str, list[Result]]], timeouts: int, assert_goals: bool
) -> int:
    healthy = len(results["ok"]["other"]) / _defaults_seconds()
    stalled = len(results["stall"]["other"]) / _defaults_seconds()
    ratio = stalled / healthy if healthy else 0.0
    everything = [r for phase in results.values() for rs in phase.values() for r in rs]
    slowest = max((r.seconds for r in everything), default=0.0)
    late = sum(1 for r in everything if r.seconds > WORKER_TIMEOUT)
    unanswered = sum(1 for r in everything if r.status == 0)
    mix = collections.Counter(r.status for r in results["stall"]["pay"])
    other_slowest = max((r.seconds for r in results["stall"]["other"]), default=0.0)
    goal = f" (goal >= {DEFAULTS_GOAL:.0%})" if assert_goals else ""
    print(f"   {label}:")
    paying = {mode: len(results[mode]["pay"]) / _defaults_seconds() for mode in results}
    print(
        f"     route with the dependency: {paying['ok']:.0f} req/s healthy, "
        f"{paying['stall']:.0f} req/s stalled, status mix {dict(sorted(mix.items()))}"
    )
    print(
        f"     route without it: {healthy:.0f} req/s healthy, {stalled:.0f} req/s stalled: "
        f"{ratio:.0%}{goal}; its slowest response {other_slowest:.2f} s"
    )
    print(
        f"     slowest response {slowest:.2f} s, {late} past the {WORKER_TIMEOUT:.0f} s worker "
        f"timeout, {unanswered} unanswered, {timeouts} gunicorn worker timeouts"
        + (" (goal 0 each)" if assert_goals else "")
    )
    if not assert_goals:
        return 0
    return int(ratio < DEFAULTS_GOAL) + late + unanswered + timeouts


def _ms(values: list[float], quantile: float) -> str:
    return f"{values[min(len(values) - 1, int(len(values) * quantile))] * 1000:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="about 40 s of load instead of 2 min")
    args = parser.parse_args()
    seconds = SECONDS[0] = 5.0 if args.short else 15.0
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    redis_server = RedisServer()
    redis_server.start()
    ingest = SentryIngest()
    ingest_port = free_port()
    sentry = Served(ingest, ingest_port)
    ingest.url = sentry.url
    upstream = Upstream(redis_server.url)
    upstream_server = Served(upstream)
    port = free_port()
    gunicorn = start_gunicorn(port, redis_server.url, upstream_server.url, ingest.dsn)
    base_url = f"http://127.0.0.1:{port}"
    floor = drive(base_url, seconds / 2, "GET", "/orders/1")
    floor_latency = sorted(r.seconds for r in floor)
    print(
        f"HTTP floor on this machine (GET /orders/1, no upstream call, same load): "
        f"p50 {_ms(floor_latency, 0.5)} ms, p99 {_ms(floor_latency, 0.99)} ms"
    )
    phases = [
        Phase("healthy", "ok", True, True),
        Phase("upstream failing", "fail", True, False),
        Phase("upstream hanging", "hang", True, False),
        Phase("upstream recovered", "ok", True, False),
        Phase("Sentry ingest down", "ok", False, True),
        Phase("Redis down", "ok", False, True),
        Phase("Redis back", "ok", False, True),
    ]
    totals = collections.Counter[str]()
    try:
        for phase in phases:
            upstream.mode = phase.upstream
            if phase.name == "Sentry ingest down":
                sentry.stop()
            if phase.name == "Redis down":
                redis_server.stop()
            if phase.name == "Redis back":
                redis_server.start()
                time.sleep(RECOVERY_TIMEOUT)  # the listeners reconnect and resync
            open_before = upstream.calls_while_open
            phase.results = drive(base_url, seconds)
            phase.calls_while_open = upstream.calls_while_open - open_before
            missing = missing_ids(ingest, phase) if phase.sentry_up else None
            totals.update(report(phase, missing))
            if phase.upstream == "hang":
                upstream.mode = "ok"
                time.sleep(3)  # let the hung calls finish before the next phase
        totals["bulkhead"] = bulkhead_phases(
            upstream, upstream_server.url, redis_server.url, ingest.dsn
        )
        totals["defaults"] = defaults_phases(upstream, upstream_server.url)
    finally:
        gunicorn.terminate()
        gunicorn.wait(30)
        upstream_server.stop()
        redis_server.stop()
    print(
        f"\nTotals: non-JSON errors {totals['non_json']}, missing ids {totals['missing']}, "
        f"errors caused by outages {totals['caused']}, bulkhead phase figures off "
        f"{totals['bulkhead']}, defaults phase figures off {totals['defaults']} (all goals 0)"
    )
    # With --short (CI) the bulkhead and defaults phases run 5 to 10 s each: their latency and
    # throughput figures are printed, but a busy CI host makes them noise, not a verdict; the
    # full run asserts them.
    asserted = {k: v for k, v in totals.items() if not (args.short and k in TIMED_FIGURES)}
    return 1 if any(asserted.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
