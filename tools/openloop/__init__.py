"""The one Python load generator: open loop, never resending, to count what a deploy loses.

Closed-loop tools (wrk) send the next request when the last one ends, so a server that
stalls simply gets fewer requests and the stall hides in a lower rate; and most clients
quietly retry a request whose kept-alive connection died, so the loss hides too. Here
arrival ``i`` is due at ``t0 + i / rate`` whatever became of the ones before (a stall
shows as queued arrivals and latency counted from the *scheduled* time), and a request
that fails is recorded with why (``connect``, ``reset``, ``eof``, ``timeout``,
``protocol``, ``redirect``) and never sent again.

Every fourth request (``writes_every``) is a ``POST`` carrying ``{"id": "<run>-<i>"}``
and ``X-Request-Id: <run>-<i>``, the rest ``GET``, so a test can check on the server
which writes arrived and that none arrived twice (``ids_on_reads``: reads carry an id
too). Requests go over keep-alive connections taken from a pool of idle ones, like an
API client or nginx reuses them, opening a new one when none is idle; a response with
``Connection: close`` closes its connection.

With ``follow_redirects=N`` a 301/302/303/307/308 with a ``Location`` is followed for
up to N hops, as a browser or ``httpx`` does: 307 and 308 resend the same method, body
and headers (``X-Request-Id`` included), 303, and 301/302 after a ``POST``, become a
``GET`` without body. Each hop takes a connection from the pool like any request, the
one timeout covers the whole chain, and a failure on any hop fails the request, never
retried. A ``Location`` off the target (another host or port, not ``http``) is not
followed: the request fails as ``redirect``. ``tag_header`` records one header of the
final response per request (which release answered, say, or ``Retry-After``).

:func:`run` blocks until the run ends; :func:`start` runs it in a background thread
(traffic during a deploy) and its :class:`OpenLoopRun` shows the requests that ended
so far. Every option is a field of :class:`Options`. ::

    python -m tools.openloop --url http://127.0.0.1:8000/ --rate 500 --seconds 10 \\
        --out requests.jsonl
"""

from tools.openloop._cli import main
from tools.openloop._generator import Options
from tools.openloop._records import ERROR_KINDS, Record, Result, Summary
from tools.openloop._runs import OpenLoopRun, run, run_async, start, write_jsonl

__all__ = [
    "ERROR_KINDS",
    "OpenLoopRun",
    "Options",
    "Record",
    "Result",
    "Summary",
    "main",
    "run",
    "run_async",
    "start",
    "write_jsonl",
]
