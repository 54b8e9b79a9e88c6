"""A Python load generator with wrk's shape, for machines without wrk.

``threads`` processes (spawned, so each has its own interpreter and GIL) each keep
``connections / threads`` keep-alive connections busy with ``GET`` requests for
``duration`` seconds, reconnecting when the server closes (gunicorn's sync workers do
after every response). It is slower than wrk, so absolute numbers are lower; ratios
against a baseline measured with the same generator in the same run still compare.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import time
from urllib.parse import urlsplit

from benchmarks.load import LoadResult
from benchmarks.stats import percentile

__all__ = ["run_python_load"]

Outcome = tuple[list[float], int, int]  # latencies (s), errors, non-2xx/3xx


async def _connection(
    host: str, port: int, path: str, deadline: float, out: list[float]
) -> tuple[int, int]:
    """Requests back to back on one connection until ``deadline``: ``(errors, non2xx)``."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    errors = non2xx = 0
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < deadline:
        try:
            if reader is None or writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
            }
            await reader.readexactly(int(headers.get("content-length", "0")))
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        out.append(time.perf_counter() - started)
        if not 200 <= status < 400:
            non2xx += 1
        if headers.get("connection", "").lower() == "close":
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()
    return errors, non2xx


async def _worker_async(url: str, duration: float, connections: int) -> Outcome:
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    deadline = time.monotonic() + duration
    latencies: list[float] = []
    results = await asyncio.gather(
        *(_connection(host, port, path, deadline, latencies) for _ in range(connections))
    )
    return latencies, sum(e for e, _ in results), sum(n for _, n in results)


def _worker(url: str, duration: float, connections: int) -> Outcome:
    return asyncio.run(_worker_async(url, duration, connections))


def run_python_load(url: str, duration: float, threads: int, connections: int) -> LoadResult:
    per_worker = max(1, connections // threads)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(threads, mp_context=context) as pool:
        futures = [pool.submit(_worker, url, duration, per_worker) for _ in range(threads)]
        outcomes = [f.result(timeout=duration + 60) for f in futures]
    latencies = [x for lat, _, _ in outcomes for x in lat]
    return LoadResult(
        tool="python",
        requests=len(latencies),
        seconds=duration,
        rps=len(latencies) / duration,
        p50_ms=(percentile(latencies, 50) or 0.0) * 1000,
        p99_ms=(percentile(latencies, 99) or 0.0) * 1000,
        errors=sum(e for _, e, _ in outcomes),
        non2xx=sum(n for _, _, n in outcomes),
    )
