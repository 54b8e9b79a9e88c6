"""The load tools against real processes: nginx, wrk and the open-loop generator
(``tools.openloop``, the one Python load generator of the tests, benchmarks and demo).

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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from benchmarks.nginx import Nginx
from benchmarks.servers import ROOT
from benchmarks.wrk import parse_wrk_output, run_wrk, start_wrk
from tools import openloop


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


@dataclass(frozen=True)
class Reply:
    """What :class:`Upstream` answers to one path: ``close`` sends ``Connection: close``."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False


class Upstream:
    """An HTTP/1.1 keep-alive server on 127.0.0.1, one thread per connection.

    It records every request it reads, answers ``200`` with its port in the body, and
    with ``drop_nth`` closes a connection on reading that request instead of answering:
    with ``reset`` by SO_LINGER 0 (the client sees a reset), else by a plain close (the
    client sees EOF). ``close_header`` answers ``Connection: close`` and closes.
    ``routes`` maps a request target (path and query) to the :class:`Reply` it gets.
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
        self.routes: dict[str, Reply] = {}
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
                reply = self.routes.get(path, Reply(close=self.close_header))
                payload = str(self.port).encode()
                extra = "".join(f"{name}: {value}\r\n" for name, value in reply.headers)
                if reply.close:
                    extra += "Connection: close\r\n"
                conn.sendall(
                    f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}\r\n"
                    f"Content-Type: text/plain\r\n{extra}".encode()
                    + b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
                )  # fmt: skip
                if reply.close:
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
        [sys.executable, "-m", "tools.openloop", "--url", f"{nginx.url}/cli",
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


def test_openloop_started_in_background_shows_each_request_as_it_ends() -> None:
    with Upstream() as server:
        before = time.time()
        run = openloop.start(f"http://127.0.0.1:{server.port}/", 200, 60.0, timeout=5)
        # Seen while the run goes on: what a test watches during a deploy.
        assert poll(lambda: len(run.finished) >= 10)
        assert run.thread.is_alive()
        live = list(run.finished)
        result = run.finish(5)

    assert all(r.status == 200 and r.end is not None for r in live)
    assert sorted(r.index for r in run.finished) == [r.index for r in result.records]
    assert run.started_at == result.started_at
    assert before <= result.started_at <= before + 1
    assert result.clock(result.epoch(1.5)) == pytest.approx(1.5)
    last = result.records[-1]
    assert last.end is not None
    assert before < result.epoch(last.end) <= time.time()


def test_openloop_ids_on_reads_send_a_request_id_with_every_request() -> None:
    with Upstream() as server:
        result = openloop.run(
            f"http://127.0.0.1:{server.port}/", 100, 0.04, writes_every=2, ids_on_reads=True,
            run_id="a", timeout=5,
        )  # fmt: skip

    assert [(r.method, r.request_id) for r in result.records] == [
        ("GET", "a-0"), ("POST", "a-1"), ("GET", "a-2"), ("POST", "a-3")
    ]  # fmt: skip
    assert server.request_ids() == {f"a-{i}": 1 for i in range(4)}
    assert [s.body for s in server.seen if s.method == "GET"] == [b"", b""]


def test_openloop_write_body_is_sent_and_keep_body_keeps_the_answer_start() -> None:
    def body(record: openloop.Record) -> bytes:
        return json.dumps({"text": f"note {record.index}"}).encode()

    with Upstream() as server:
        result = run_one(server, "/notes", write_body=body, keep_body=3)
        plain = run_one(server, "/notes")

    [record] = result.records
    assert (record.status, record.body) == (200, str(server.port)[:3])
    assert plain.records[0].body is None  # kept only when asked for
    assert [s.body for s in server.seen] == [b'{"text": "note 0"}', b'{"id": "r-0"}']


def test_openloop_unknown_option_raises_type_error_in_the_caller() -> None:
    with pytest.raises(TypeError, match="workers"):
        openloop.start("http://127.0.0.1:1/", 1, 1, workers=8)


def test_openloop_connect_refused_is_a_connect_failure() -> None:
    with Upstream() as server:
        port = server.port
    result = openloop.run(f"http://127.0.0.1:{port}/", 100, 0.05, timeout=5)

    assert result.summary().failures == {"connect": 5}


def run_one(server: Upstream, path: str, **options: Any) -> openloop.Result:
    """One arrival to ``path``: a POST with id ``r-0`` unless ``writes_every=0``."""
    options.setdefault("writes_every", 1)
    url = f"http://127.0.0.1:{server.port}{path}"
    return openloop.run(url, 100, 0.01, run_id="r", timeout=5, **options)


def redirect(status: int, location: str, *headers: tuple[str, str], close: bool = False) -> Reply:
    return Reply(status, (("Location", location), *headers), close)


def test_openloop_307_308_chain_on_post_resends_same_body_and_request_id() -> None:
    with Upstream() as server:
        base = f"http://127.0.0.1:{server.port}"
        server.routes["/in/a"] = redirect(307, "b")  # relative: /in/b
        server.routes["/in/b"] = redirect(308, f"{base}/out?x=1")  # absolute, same origin
        result = openloop.run(
            f"{base}/in/a", 100, 0.03, writes_every=1, run_id="c", timeout=5, follow_redirects=5
        )

    assert [(r.method, r.status, r.redirects, r.error) for r in result.records] == [
        ("POST", 200, 2, None)
    ] * 3
    received = defaultdict(list)
    for seen in server.seen:
        received[seen.headers["x-request-id"]].append(
            (seen.method, seen.path, seen.body, seen.headers["content-type"])
        )
    assert received == {
        f"c-{i}": [
            ("POST", path, json.dumps({"id": f"c-{i}"}).encode(), "application/json")
            for path in ("/in/a", "/in/b", "/out?x=1")
        ]
        for i in range(3)
    }
    summary = result.summary()
    assert summary.statuses == {200: 3}
    assert (summary.redirected, summary.redirects_max) == (3, 2)


@pytest.mark.parametrize(
    ("close", "hops", "opened"),
    [(False, [("/a", 1, 1), ("/b", 1, 2)], 1), (True, [("/a", 1, 1), ("/b", 2, 1)], 2)],
)
def test_openloop_redirect_hop_takes_pooled_connection_new_one_after_connection_close(
    close: bool, hops: list[tuple[str, int, int]], opened: int
) -> None:
    with Upstream() as server:
        server.routes["/a"] = redirect(307, "/b", close=close)
        result = run_one(server, "/a", follow_redirects=1)

    record = result.records[0]
    assert (record.status, record.redirects, record.error) == (200, 1, None)
    assert [(s.path, s.connection, s.nth) for s in server.seen] == hops
    assert record.reused is not close  # of the last hop
    assert result.summary().connections_opened == opened


@pytest.mark.parametrize("limit", [0, 1, 3])
def test_openloop_redirects_beyond_the_limit_end_on_the_redirect_status(limit: int) -> None:
    with Upstream() as server:
        server.routes["/loop"] = redirect(307, "/loop", ("X-Release", "loop"))
        result = run_one(server, "/loop", follow_redirects=limit, tag_header="x-release")

    record = result.records[0]
    assert (record.status, record.redirects, record.error, record.tag) == (307, limit, None, "loop")
    assert record.latency is not None
    assert [s.path for s in server.seen] == ["/loop"] * (limit + 1)
    assert result.summary().statuses == {307: 1}


@pytest.mark.parametrize("status", [301, 302, 303])
def test_openloop_post_redirected_by_301_302_303_is_followed_as_get_without_body(
    status: int,
) -> None:
    with Upstream() as server:
        server.routes["/form"] = redirect(status, "/done")
        result = run_one(server, "/form", follow_redirects=2)

    record = result.records[0]
    assert (record.method, record.status, record.redirects) == ("POST", 200, 1)
    first, second = server.seen
    assert (first.method, first.path, first.body) == ("POST", "/form", b'{"id": "r-0"}')
    assert (second.method, second.path, second.body) == ("GET", "/done", b"")
    assert "content-length" not in second.headers
    assert "content-type" not in second.headers
    assert second.headers["x-request-id"] == "r-0"  # kept, as browsers and httpx keep it


@pytest.mark.parametrize(
    "location",
    [
        "http://evil.example/x",
        "//evil.example/x",
        "https://127.0.0.1:{port}/x",
        "http://localhost:{port}/x",
        "http://127.0.0.1:{other}/x",
        "http://127.0.0.1:no/x",
    ],
)
def test_openloop_redirect_off_the_target_is_a_redirect_failure_sent_nowhere(
    location: str,
) -> None:
    with Upstream() as server, Upstream() as other:
        target = location.format(port=server.port, other=other.port)
        server.routes["/a"] = redirect(302, target)
        result = run_one(server, "/a", follow_redirects=5)

    record = result.records[0]
    assert (record.status, record.error, record.redirects) == (0, "redirect", 0)
    assert "redirect" in openloop.ERROR_KINDS
    summary = result.summary()
    assert summary.failures == {"redirect": 1}
    assert summary.connections_opened == 1
    assert [s.path for s in server.seen] == ["/a"]
    assert other.seen == []


def test_openloop_tag_header_is_read_from_the_final_response() -> None:
    with Upstream() as server:
        server.routes["/a"] = redirect(307, "/b", ("X-Release", "old"))
        server.routes["/b"] = Reply(200, (("X-Release", "new"),))
        tagged = run_one(server, "/a", follow_redirects=1, tag_header="X-RELEASE")
        untagged = run_one(server, "/a", follow_redirects=1)
        absent = run_one(server, "/b", tag_header="x-absent")

    assert (tagged.records[0].status, tagged.records[0].tag) == (200, "new")
    assert (untagged.records[0].status, untagged.records[0].tag) == (200, None)
    assert (absent.records[0].status, absent.records[0].tag) == (200, None)


@pytest.mark.parametrize(
    ("follow", "statuses", "hops", "redirected", "most"),
    [(3, {200: 4}, [0, 2, 0, 2], 2, 2), (0, {200: 2, 307: 2}, [0, 0, 0, 0], 0, 0)],
)
def test_openloop_summary_counts_redirected_requests_and_most_hops(
    follow: int, statuses: dict[int, int], hops: list[int], redirected: int, most: int
) -> None:
    with Upstream() as server:
        server.routes["/w"] = redirect(307, "/w2")
        server.routes["/w2"] = redirect(308, "/w3")
        result = openloop.run(
            f"http://127.0.0.1:{server.port}/", 200, 0.02, writes_every=2, path_read="/r",
            path_write="/w", timeout=5, follow_redirects=follow,
        )  # fmt: skip

    assert [r.redirects for r in result.records] == hops
    summary = result.summary()
    assert (summary.reads, summary.writes, summary.statuses) == (2, 2, statuses)
    assert (summary.redirected, summary.redirects_max) == (redirected, most)
    as_dict = summary.as_dict()
    assert (as_dict["redirected"], as_dict["redirects_max"]) == (redirected, most)
    assert json.loads(json.dumps(as_dict)) == as_dict


@pytest.mark.parametrize(("reset", "kind"), [(True, "reset"), (False, "eof")])
def test_openloop_hop_lost_on_its_connection_fails_the_request_not_resent(
    reset: bool, kind: str
) -> None:
    with Upstream(drop_nth=2, reset=reset) as server:
        server.routes["/a"] = redirect(307, "/b")
        result = run_one(server, "/a", follow_redirects=3)

    record = result.records[0]
    assert (record.status, record.error, record.redirects, record.reused) == (0, kind, 1, True)
    assert record.first_byte is None
    assert record.latency is None
    assert [(s.path, s.connection, s.nth) for s in server.seen] == [("/a", 1, 1), ("/b", 1, 2)]
    assert result.summary().failures_on_reused == 1


def test_openloop_endless_redirects_end_at_the_one_timeout_of_the_chain() -> None:
    with Upstream() as server:
        server.routes["/loop"] = redirect(302, "/loop")
        result = openloop.run(
            f"http://127.0.0.1:{server.port}/loop", 100, 0.01, writes_every=0, timeout=0.1,
            follow_redirects=10**9,
        )  # fmt: skip

    record = result.records[0]
    assert (record.status, record.error) == (0, "timeout")
    # Each hop takes well under a millisecond: only the chain as a whole ran out of time.
    assert record.redirects > 10
    assert record.redirects <= len(server.seen) <= record.redirects + 1
    assert record.end is not None
    assert 0.09 < record.end - record.scheduled < 1.0


def test_openloop_redirect_location_with_spaces_and_utf8_is_percent_encoded() -> None:
    with Upstream() as server:
        server.routes["/a"] = redirect(307, "/b c/\u00fc?q=1 2&r=%41")
        result = run_one(server, "/a", follow_redirects=1)

    assert result.records[0].status == 200
    assert [s.path for s in server.seen] == ["/a", "/b%20c/%C3%BC?q=1%202&r=%41"]


def test_openloop_negative_follow_redirects_raises_value_error() -> None:
    with pytest.raises(ValueError, match="follow_redirects"):
        openloop.run("http://127.0.0.1:1/", 1, 1, follow_redirects=-1)


def test_openloop_cli_follow_redirects_flag_records_hops_and_tags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "requests.jsonl"
    with Upstream() as server:
        server.routes["/a"] = redirect(307, "/b")
        server.routes["/b"] = Reply(200, (("X-Release", "v2"),))
        code = openloop.main(
            ["--url", f"http://127.0.0.1:{server.port}/a", "--rate", "100", "--seconds", "0.02",
             "--timeout", "5", "--out", str(out), "--follow-redirects", "1",
             "--tag-header", "x-release"]
        )  # fmt: skip

    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["statuses"] == {"200": 2}
    assert (summary["redirected"], summary["redirects_max"]) == (2, 1)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["redirects"], r["tag"]) for r in records] == [(1, "v2")] * 2


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
