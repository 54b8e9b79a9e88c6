"""Closed-loop HTTP load: wrk when installed, else a Python generator of the same shape.

Both keep ``connections`` keep-alive connections busy for ``duration`` seconds from
``threads`` threads (wrk) or processes (Python), sending ``GET /`` back to back, and
report requests per second, p50/p99 latency and errors in one :class:`LoadResult`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["LoadResult", "load_tool", "run_load", "wrk_version"]

LUA = Path(__file__).with_name("wrk_report.lua")


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    non2xx: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_tool(preference: str = "auto") -> str:
    """``wrk`` or ``python``: wrk when asked for or found on PATH (``auto``)."""
    if preference == "python":
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    if preference == "wrk":
        raise RuntimeError("wrk was asked for but is not on PATH (Debian: apt-get install wrk)")
    return "python"


def wrk_version() -> str | None:
    if not shutil.which("wrk"):
        return None
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    words = (out.stdout + out.stderr).split()
    return words[1] if len(words) > 1 else None


def parse_wrk(output: str) -> LoadResult:
    """The :class:`LoadResult` of wrk's output with ``wrk_report.lua``."""
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            raw = json.loads(line[len("BENCH_JSON ") :])
            seconds = raw["duration_us"] / 1e6
            return LoadResult(
                tool="wrk",
                requests=raw["requests"],
                seconds=seconds,
                rps=raw["requests"] / seconds if seconds else 0.0,
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
                non2xx=raw["status"],
            )
    raise RuntimeError(f"wrk printed no BENCH_JSON line:\n{output[-2000:]}")


def run_wrk(url: str, duration: float, threads: int, connections: int) -> LoadResult:
    argv = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
        "--timeout", "10s", "-s", str(LUA), url,
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr[-2000:]}")
    return parse_wrk(out.stdout)


def run_load(
    url: str, duration: float, tool: str, threads: int = 2, connections: int = 32
) -> LoadResult:
    """Load ``url`` for ``duration`` seconds with ``tool`` (``wrk`` or ``python``)."""
    if tool == "wrk":
        return run_wrk(url, duration, threads, connections)
    from benchmarks.load_py import run_python_load

    return run_python_load(url, duration, threads, connections)
