"""The load tools against real processes: nginx, wrk and the open-loop generator.

What the deploy benchmarks conclude rests on these tools counting right: that nginx is
configured the way teams run it and spreads requests over its upstreams, that the
open-loop generator sends exactly ``rate * seconds`` requests on time and records a
request lost on a kept-alive connection as lost instead of quietly resending it, and
that wrk's report is read correctly. The upstreams here are a small threaded raw-socket
server, so a test decides exactly when a connection closes and how (FIN or reset).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from benchmarks import openloop
from benchmarks.nginx import Nginx
from benchmarks.servers import ROOT
from benchmarks.wrk import parse_wrk_output, run_wrk, start_wrk


@dataclass(frozen=True)
class Seen:
    """A request as the upstream read it: ``nth`` counts from 1 on its connection."""

    connection: int
    nth: int
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes


class Upstream:
    """An HTTP/1.1 keep-alive server on 127.0.0.1, one thread per connection.

    It records every request it reads, answers ``200`` with its port in the body, and
    with ``drop_nth`` closes a connection on reading that request instead of answering:
    with ``reset`` by SO_LINGER 0 (the client sees a reset), else by a plain close (the
    client sees EOF). ``close_header`` answers ``Connection: close`` and closes.
    """

    def __init__(
        self, drop_nth: int | None = None, reset: bool = False, close_header: bool = False
    ) -> None:
        self.drop_nth = drop_nth
        self.reset = reset
        self.close_header = close_header
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        number = 0
        while not self._stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            number += 1
            thread = threading.Thread(target=self._serve, args=(conn, number), daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        nth = 0
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, version = lines[0].split(" ")
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                while len(buffer) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                nth += 1
                with self._lock:
                    self.seen.append(Seen(number, nth, method, path, version, headers, body))
                if nth == self.drop_nth:
                    if self.reset:
                        conn.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    return  # the finally closes, having read all (else Linux would reset)
                payload = str(self.port).encode()
                close = b"Connection: close\r\n" if self.close_header else b""
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + close
                    + b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
                )  # fmt: skip
                if self.close_header:
                    return
        except OSError:
            return
        finally:
            conn.close()

    def request_ids(self) -> Counter[str]:
        with self._lock:
            return Counter(
                s.headers["x-request-id"] for s in self.seen if "x-request-id" in s.headers
            )

    def __enter__(self) -> Upstream:
        self._accepter.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._accepter.join(2)
        self.listener.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv
        for thread in threads:
            thread.join(2)


def poll(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def http_get(port: int, path: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[Upstream, Upstream]]:
    with Upstream() as one, Upstream() as two:
        yield one, two


@pytest.fixture(scope="module")
def nginx(upstreams: tuple[Upstream, Upstream]) -> Iterator[Nginx]:
    ports = [u.port for u in upstreams]
    with Nginx(ports, extra_server='location = /ok { return 200 "ok\\n"; }') as server:
        yield server


WRK_PLAIN = """\
Running 1s test @ http://127.0.0.1:44729/ok
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   617.39us    0.94ms   5.94ms   87.69%
    Req/Sec    46.18k    15.88k   66.01k    70.00%
  Latency Distribution
     50%  165.00us
     75%  553.00us
     90%    1.93ms
     99%    4.20ms
  91946 requests in 1.00s, 13.15MB read
Requests/sec:  91761.83
Transfer/sec:     13.13MB
"""

WRK_ERRORS = """\
Running 2s test @ http://127.0.0.1:40125/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.21ms    2.03ms  31.46ms   94.12%
    Req/Sec     2.01k   412.50     2.60k    68.42%
  7702 requests in 2.10m, 0.98MB read
  Socket errors: connect 0, read 3851, write 0, timeout 2
  Non-2xx or 3xx responses: 17
Requests/sec:   3667.43
Transfer/sec:    478.29KB
"""


def test_wrk_report_without_error_lines_parses_with_zero_errors() -> None:
    result = parse_wrk_output(WRK_PLAIN)

    assert (result.requests, result.seconds, result.rps) == (91946, 1.0, 91761.83)
    assert result.socket_errors == 0
    assert result.non2xx == 0
    assert result.latency_avg == pytest.approx(617.39e-6)
    assert result.latency_max == pytest.approx(5.94e-3)
    assert result.percentiles == pytest.approx({50: 165e-6, 75: 553e-6, 90: 1.93e-3, 99: 4.2e-3})


def test_wrk_report_with_error_lines_parses_each_count() -> None:
    result = parse_wrk_output(WRK_ERRORS)

    assert (result.requests, result.seconds, result.rps) == (7702, 126.0, 3667.43)
    assert (result.connect_errors, result.read_errors, result.write_errors) == (0, 3851, 0)
    assert result.timeouts == 2
    assert result.socket_errors == 3853
    assert result.non2xx == 17
    assert result.percentiles == {}


def test_text_that_is_not_a_wrk_report_raises() -> None:
    with pytest.raises(ValueError, match="not a wrk report"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_nginx_requests_spread_over_both_upstreams_with_forwarded_for(
    nginx: Nginx, upstreams: tuple[Upstream, Upstream]
) -> None:
    before = len(nginx.access_entries())
    bodies = {http_get(nginx.port, f"/spread/{i}") for i in range(8)}

    assert bodies == {(200, str(u.port).encode()) for u in upstreams}
    assert poll(lambda: len(nginx.access_entries()) >= before + 8)
    entries = [e for e in nginx.access_entries() if e.uri.startswith("/spread/")]
    assert Counter(e.upstream_addrs for e in entries) == {
        (f"127.0.0.1:{u.port}",): 4 for u in upstreams
    }  # round robin
    seen = [s for u in upstreams for s in u.seen if s.path.startswith("/spread/")]
    assert len(seen) == 8
    assert {s.headers.get("x-forwarded-for") for s in seen} == {"127.0.0.1"}
    # HTTP/1.1 with an empty Connection header: what lets nginx keep upstream connections
    assert {(s.version, s.headers.get("connection")) for s in seen} == {("HTTP/1.1", None)}
    assert nginx.access_statuses()[200] >= 8


def test_openloop_cli_through_nginx_sends_exactly_rate_times_seconds_on_time(
    nginx: Nginx, upstreams: tuple[Upstream, Upstream], tmp_path: Path
) -> None:
    out = tmp_path / "requests.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.openloop", "--url", f"{nginx.url}/cli",
         "--rate", "200", "--seconds", "2", "--out", str(out), "--run-id", "cli", "--timeout", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["arrivals"] == len(records) == 400
    assert summary["statuses"] == {"200": 400}
    assert summary["failures"] == {}
    assert (summary["reads"], summary["writes"]) == (300, 100)
    assert [r["index"] for r in records] == list(range(400))
    assert [r["scheduled"] for r in records] == pytest.approx([i / 200 for i in range(400)])
    assert summary["lateness_ms"] < 50  # generous for a shared CI machine; ~2 ms here
    assert summary["p50_ms"] < 10
    ids = Counter(
        s.headers["x-request-id"] for u in upstreams for s in u.seen if s.path == "/cli"
        and s.method == "POST"
    )  # fmt: skip
    assert ids == {f"cli-{i}": 1 for i in range(3, 400, 4)}
    assert poll(lambda: sum(e.uri == "/cli" for e in nginx.access_entries()) == 400)
    methods = Counter(e.method for e in nginx.access_entries() if e.uri == "/cli")
    assert methods == {"GET": 300, "POST": 100}


def test_openloop_at_500_per_second_adds_well_under_a_millisecond(nginx: Nginx) -> None:
    # nginx's own `return 200` answers in ~0.1 ms: what is left is the generator's own.
    result = openloop.run(f"{nginx.url}/ok", 500, 0.5, writes_every=0, timeout=5)
    summary = result.summary()

    assert summary.arrivals == 250
    assert summary.statuses == {200: 250}
    assert summary.connections_opened < 50  # kept alive and reused, not one per request
    assert summary.p50_ms is not None
    assert summary.p50_ms < 2  # ~0.4 ms here; loose for a shared CI machine


@pytest.mark.parametrize(("reset", "kind"), [(True, "reset"), (False, "eof")])
def test_openloop_request_lost_on_reused_connection_is_failed_not_resent(
    reset: bool, kind: str
) -> None:
    with Upstream(drop_nth=2, reset=reset) as server:
        # 10 ms apart, each answered well within: request 2k+1 opens a connection,
        # 2k+2 reuses it and is dropped.
        result = openloop.run(
            f"http://127.0.0.1:{server.port}/w", 100, 0.2, writes_every=1, run_id="d", timeout=5
        )

        summary = result.summary()
        assert summary.arrivals == 20
        assert summary.failures == {kind: 10}
        assert summary.failures_on_reused == 10
        assert summary.statuses == {200: 10}
        failed = [r for r in result.records if r.error]
        assert [r.index for r in failed] == list(range(1, 20, 2))
        assert all(r.status == 0 and r.reused for r in failed)
        assert not any(r.reused for r in result.records if r.status == 200)
        assert server.request_ids() == {f"d-{i}": 1 for i in range(20)}


def test_openloop_connection_close_response_is_not_reused() -> None:
    with Upstream(close_header=True) as server:
        result = openloop.run(f"http://127.0.0.1:{server.port}/", 100, 0.1, timeout=5)

    summary = result.summary()
    assert summary.statuses == {200: 10}
    assert summary.failures == {}
    assert summary.connections_opened == 10
    assert not any(r.reused for r in result.records)


def test_openloop_stopped_in_background_ends_arrivals_and_returns() -> None:
    with Upstream() as server:
        run = openloop.start(f"http://127.0.0.1:{server.port}/", 200, 60.0, timeout=5)
        assert poll(lambda: len(server.seen) >= 10)
        run.stop()
        result = run.result(5)

    summary = result.summary()
    assert 10 <= summary.arrivals < 200
    assert summary.statuses == {200: summary.arrivals}
    assert len(server.seen) == summary.arrivals


def test_openloop_connect_refused_is_a_connect_failure() -> None:
    with Upstream() as server:
        port = server.port
    result = openloop.run(f"http://127.0.0.1:{port}/", 100, 0.05, timeout=5)

    assert result.summary().failures == {"connect": 5}


def test_wrk_through_nginx_during_reload_runs_and_parses(nginx: Nginx) -> None:
    served = nginx.access_statuses()[200]
    run = start_wrk(f"{nginx.url}/ok", 1, threads=1, connections=4)
    # wrk has no readiness signal: its requests in the access log are one.
    assert poll(lambda: nginx.access_statuses()[200] > served + 100)
    workers = set(nginx.worker_pids())
    nginx.reload()
    result = run.result()

    assert result.requests > 100
    assert 1.0 <= result.seconds < 2.0
    assert result.rps > 0
    assert set(nginx.worker_pids()) != workers
    assert result.output.startswith("Running 1s test @")


def test_missing_binaries_raise_instead_of_skipping() -> None:
    with pytest.raises(RuntimeError, match="nginx not found"):
        Nginx([1], binary="/nonexistent/nginx")
    with pytest.raises(RuntimeError, match="wrk not found"):
        run_wrk("http://127.0.0.1:1/", 1, binary="/nonexistent/wrk")
