"""Run Debian's wrk and read its standard report, in the foreground or while a test acts.

wrk is the benchmarks' only load for throughput (the open path) and a closed-loop load
for the reload section; there is no Python stand-in, so a machine without wrk fails
with one clear line (:func:`find_wrk`). This reads the text wrk prints by itself, which
is what a person runs and pastes, and which is all there is when wrk runs with a
script of its own (``script``): the requests completed, socket errors (``connect``,
``read``, ``write``, ``timeout``; wrk omits the line when all are 0), non-2xx/3xx
responses (omitted when 0) and, with ``--latency``, the latency percentiles.
:func:`start_wrk` runs wrk in the background so a test can, say, reload nginx while wrk
keeps its connections busy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "WrkResult", "WrkRun", "find_wrk", "parse_wrk_output", "run_wrk", "start_wrk",
    "wrk_version",
]  # fmt: skip

DEFAULT_BINARY = "/usr/bin/wrk"

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", re.MULTILINE)
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_LATENCY = re.compile(r"^\s*Latency\s+([\d.]+)(us|ms|s|m|h)\s+\S+\s+([\d.]+)(us|ms|s|m|h)")
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)(?:\.\d+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$")


def find_wrk(binary: str | None = None) -> str:
    """The wrk binary; a clear error (never a skip) when there is none."""
    found = binary or shutil.which("wrk") or DEFAULT_BINARY
    if shutil.which(found) is None:
        raise RuntimeError(f"wrk not found ({found}): install it (Debian: apt-get install wrk)")
    return found


def wrk_version() -> str | None:
    """``4.1.0``, say; ``None`` without wrk."""
    if not shutil.which("wrk"):
        return None
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    words = (out.stdout + out.stderr).split()
    return words[1] if len(words) > 1 else None


@dataclass(frozen=True)
class WrkResult:
    """What wrk reported. Latencies are seconds; ``None`` when wrk printed none."""

    requests: int
    seconds: float
    rps: float
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    non2xx: int = 0
    latency_avg: float | None = None
    latency_max: float | None = None
    percentiles: dict[int, float] = field(default_factory=dict)
    output: str = ""

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    def row(self) -> dict[str, Any]:
        """The figures a benchmark round keeps (latencies in ms; 0 when not reported)."""
        return {
            "tool": "wrk",
            "requests": self.requests,
            "seconds": self.seconds,
            "rps": self.rps,
            "p50_ms": self.percentiles.get(50, 0.0) * 1000,
            "p99_ms": self.percentiles.get(99, 0.0) * 1000,
            "errors": self.socket_errors,
            "non2xx": self.non2xx,
        }


def _seconds(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse_wrk_output(text: str) -> WrkResult:
    """The :class:`WrkResult` of wrk's standard report (``--latency`` or not)."""
    requests = _REQUESTS.search(text)
    rps = _RPS.search(text)
    if requests is None or rps is None:
        raise ValueError(f"not a wrk report:\n{text[-2000:]}")
    socket = _SOCKET.search(text)
    connect, read, write, timeout = (int(g) for g in socket.groups()) if socket else (0,) * 4
    non2xx = _NON2XX.search(text)
    avg = peak = None
    percentiles: dict[int, float] = {}
    for line in text.splitlines():
        if latency := _LATENCY.match(line):
            avg = _seconds(latency.group(1), latency.group(2))
            peak = _seconds(latency.group(3), latency.group(4))
        elif pct := _PERCENTILE.match(line):
            percentiles[int(pct.group(1))] = _seconds(pct.group(2), pct.group(3))
    return WrkResult(
        requests=int(requests.group(1)),
        seconds=_seconds(requests.group(2), requests.group(3)),
        rps=float(rps.group(1)),
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeouts=timeout,
        non2xx=int(non2xx.group(1)) if non2xx else 0,
        latency_avg=avg,
        latency_max=peak,
        percentiles=percentiles,
        output=text,
    )


class WrkRun:
    """wrk running in the background; :meth:`result` waits for it and parses."""

    def __init__(self, argv: list[str], seconds: float) -> None:
        self.argv = argv
        self.seconds = seconds
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def result(self, timeout: float | None = None) -> WrkResult:
        # wrk ends by itself after its duration; the margin covers start-up and a
        # --timeout's worth of requests still in flight.
        wait = self.seconds + 30 if timeout is None else timeout
        try:
            stdout, stderr = self.process.communicate(timeout=wait)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
            raise RuntimeError(f"wrk did not end within {wait}s:\n{stdout[-2000:]}") from None
        if self.process.returncode != 0:
            raise RuntimeError(
                f"wrk failed ({self.process.returncode}): {stderr[-2000:]}{stdout[-2000:]}"
            )
        return parse_wrk_output(stdout)


def start_wrk(
    url: str,
    seconds: float,
    threads: int = 2,
    connections: int = 32,
    script: str | None = None,
    *,
    timeout: float = 10.0,
    latency: bool = True,
    binary: str | None = None,
) -> WrkRun:
    """Start wrk on ``url`` for ``seconds`` (whole seconds, at least 1) and return."""
    argv = [
        find_wrk(binary),
        f"-t{threads}", f"-c{max(connections, threads)}",
        f"-d{max(1, round(seconds))}s",
        "--timeout", f"{max(1, round(timeout))}s",
        *(["--latency"] if latency else []),
        *(["-s", script] if script else []),
        url,
    ]  # fmt: skip
    return WrkRun(argv, max(1, round(seconds)))


def run_wrk(
    url: str,
    seconds: float,
    threads: int = 2,
    connections: int = 32,
    script: str | None = None,
    *,
    timeout: float = 10.0,
    latency: bool = True,
    binary: str | None = None,
) -> WrkResult:
    """wrk on ``url`` for ``seconds``, parsed; RuntimeError when wrk is missing or fails."""
    run = start_wrk(
        url, seconds, threads, connections, script,
        timeout=timeout, latency=latency, binary=binary,
    )  # fmt: skip
    return run.result()
