"""1b. The open path in instructions: what the gate costs a request, counted, not timed.

Throughput on a shared 2-core machine moves by more than the 3 % the open-path target
judges (rounds of one pair range over ±30 %), so this section counts instead: the pure
ASGI hello app under one real uvicorn worker, bare and with the gate (``BENCH_VARIANT``),
each run under ``valgrind --tool=callgrind``. After a warm-up of ``WARMUP`` requests (the
gate's watcher is running by then), the counters are zeroed, ``REQUESTS`` keep-alive GETs
are sent over ``CONNECTIONS`` connections, and the counters dumped: the event loop's
thread's instructions per request, for each variant. The gate keeps ``bare / gate`` of
the bare throughput where a request is CPU-bound, as a hello world is. Counts repeat to
about ±0.4 % run to run whatever else the machine does; the watcher thread is counted
apart (``watcher_ir_per_request``). Needs ``valgrind`` (Debian: ``apt-get install
valgrind``); without it the section is skipped with a note.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.config import Context
from benchmarks.servers import BIN, ROOT, http_get
from benchmarks.stats import ratio
from tools.procs import free_port

__all__ = ["REQUESTS", "count_instructions", "run", "totals"]

REQUESTS = 4000
WARMUP = 500
CONNECTIONS = 4
APP = "benchmarks.apps.asgi_hello:app"


async def _send(port: int, total: int, connections: int) -> None:
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"

    async def one(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        writer.close()

    await asyncio.gather(*(one(total // connections) for _ in range(connections)))


def totals(dump: str) -> int:
    """The instruction total of one callgrind dump file's text."""
    for line in dump.splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ValueError("no summary line in the callgrind dump")


def count_instructions(ctx: Context, variant: str, requests: int = REQUESTS) -> dict[str, Any]:
    """Instructions per request of the loop thread (and of the others) for ``variant``."""
    port = free_port()
    env = {**ctx.env(ctx.prefix(f"instructions-{variant}"), variant), "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="gk-callgrind-") as folder:
        if variant == "gate-metrics":
            # As an operator would run it: Prometheus in multiprocess mode, /metrics served.
            metrics_dir = Path(folder) / "prometheus"
            metrics_dir.mkdir()
            env.update(
                BENCH_VARIANT="gate", GATEKEEPER_METRICS="prometheus",
                GATEKEEPER_METRICS_PATH="/metrics", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            )  # fmt: skip
        out = Path(folder) / "cg"
        argv = [
            "valgrind", "--tool=callgrind", "--separate-threads=yes", "--dump-instr=no",
            f"--callgrind-out-file={out}.%p", str(BIN / "python"), "-m", "uvicorn", APP,
            "--port", str(port), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not _answers(port):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn under callgrind ({variant}) did not start")
                time.sleep(0.2)
            asyncio.run(_send(port, WARMUP, CONNECTIONS))
            control = ["callgrind_control"]
            subprocess.run([*control, "-z", str(server.pid)], check=True, capture_output=True)
            asyncio.run(_send(port, requests, CONNECTIONS))
            subprocess.run([*control, "-d", str(server.pid)], check=True, capture_output=True)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
        dumps = sorted(Path(folder).glob(f"cg.{server.pid}.1-*"))
        per_thread = [totals(path.read_text(errors="replace")) for path in dumps]
    if not per_thread:
        raise RuntimeError(f"callgrind wrote no dump for {variant}")
    loop, others = per_thread[0], sum(per_thread[1:])
    return {
        "requests": requests,
        "loop_ir": loop,
        "ir_per_request": loop / requests,
        "watcher_ir_per_request": others / requests,
    }


def _answers(port: int) -> bool:
    try:
        return http_get(port, "/healthz", timeout=2.0)[0] == 200
    except OSError:
        return False


def run(ctx: Context) -> dict[str, Any]:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        note = "skipped: valgrind is not installed (apt-get install valgrind)"
        ctx.log(f"instructions: {note}")
        return {"skipped": True, "note": note}
    ctx.log(f"instructions: pure ASGI under uvicorn + callgrind, {REQUESTS} requests per variant")
    names = ("bare", "gate", "gate-metrics")
    variants = {variant: count_instructions(ctx, variant) for variant in names}
    bare, gate = variants["bare"]["ir_per_request"], variants["gate"]["ir_per_request"]
    metered = variants["gate-metrics"]["ir_per_request"]
    out: dict[str, Any] = {
        "skipped": False,
        "variants": variants,
        "gate_extra_ir_per_request": gate - bare,
        "kept_ratio": ratio(bare, gate),
        "metrics_extra_ir_per_request": metered - bare,
        "metrics_kept_ratio": ratio(bare, metered),
    }
    ctx.log(
        f"  instructions/request: bare {bare:,.0f}, gate {gate:,.0f} (+{gate - bare:,.0f}); "
        f"throughput kept where CPU-bound {out['kept_ratio']:.4f}; with metrics on "
        f"(prometheus, /metrics) {metered:,.0f} (+{metered - bare:,.0f}), "
        f"{out['metrics_kept_ratio']:.4f}"
    )
    return out
