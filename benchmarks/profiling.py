"""Profile (opt-in, ``--only profile``): where a gated worker spends its CPU, by py-spy.

Three recordings of the gated apps, sampled with ``py-spy record --format raw``:
the open path of ``wsgi_hello`` under gunicorn (2 sync workers, ``--subprocesses``) and
of ``asgi_hello`` under uvicorn, each under wrk load; and one uvicorn worker releasing
10,000 held requests. Each sample's stack is attributed to the gate when its deepest
gatekeeper frame is not followed by app code (``benchmarks/apps``); samples of the
watcher thread are counted apart. ``top`` lists the deepest gatekeeper frames with
their line, by share of all samples: where the gate's cost sits, line by line.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import servers
from benchmarks.config import Context
from benchmarks.holdclient import hold_round
from benchmarks.holders import HOLD_ENV, Holder
from benchmarks.load import run_load

__all__ = ["attribute", "parse_collapsed", "run"]

Stack = tuple[list[str], int]


def parse_collapsed(text: str) -> list[Stack]:
    """``frame;frame;... count`` lines into ``(frames, count)`` pairs."""
    stacks: list[Stack] = []
    for line in text.splitlines():
        head, _, count = line.rpartition(" ")
        if head and count.isdigit():
            stacks.append((head.split(";"), int(count)))
    return stacks


def _is_gate(frame: str) -> bool:
    return "gatekeeper/" in frame and "benchmarks" not in frame


def attribute(stacks: list[Stack], top: int = 8) -> dict[str, Any]:
    total = sum(count for _, count in stacks)
    gate = watcher = 0
    lines: Counter[str] = Counter()
    for frames, count in stacks:
        deepest = max((i for i, f in enumerate(frames) if _is_gate(f)), default=None)
        if deepest is None:
            continue
        if any("StateWatcher._run" in f for f in frames):
            watcher += count
            continue
        if any("apps/" in f for f in frames[deepest + 1 :]):
            continue  # the app's own work, called through the gate
        gate += count
        lines[frames[deepest]] += count

    def share(n: int) -> float:
        return n / total if total else 0.0

    return {
        "samples": total,
        "gate_share": share(gate),
        "watcher_share": share(watcher),
        "top": [{"frame": frame, "share": share(n)} for frame, n in lines.most_common(top)],
    }


def _record(pids: list[int], seconds: int, subprocesses: bool) -> str:
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = Path(tempfile.mkstemp(prefix="gk-pyspy-", suffix=".txt")[1])
    argv = [pyspy, "record", "--pid", str(pids[0]), "--rate", "250", "--duration", str(seconds)]
    argv += ["--format", "raw", "--output", str(out), "--nonblocking"]
    if subprocesses:
        argv.append("--subprocesses")
    subprocess.run(argv, capture_output=True, timeout=seconds + 30, check=False)
    text = out.read_text() if out.exists() else ""
    out.unlink(missing_ok=True)
    return text


def _open_path(ctx: Context, server: servers.Server, master: bool) -> dict[str, Any]:
    seconds = ctx.settings.profile_seconds
    run_load(server.url, 1, ctx.load_tool)  # warm: watchers started
    assert server.process is not None
    pids = [server.process.pid] if master else server.worker_pids()
    load = threading.Thread(target=run_load, args=(server.url, seconds + 1, ctx.load_tool))
    load.start()
    time.sleep(0.3)
    text = _record(pids, seconds, subprocesses=master)
    load.join()
    return attribute(parse_collapsed(text))


def _release(ctx: Context, n: int) -> dict[str, Any]:
    prefix = ctx.prefix("profile-release")
    holder = Holder(ctx.client, "gate", prefix)
    holder.prepare()
    texts: list[str] = []
    with servers.uvicorn("profile-release", holder.app, ctx.env(prefix, **HOLD_ENV)) as server:
        pid = server.worker_pids()[0]
        holder.arm(1)
        recorder = threading.Thread(target=lambda: texts.append(_record([pid], 3, False)))

        def start_recording() -> None:
            recorder.start()
            time.sleep(0.5)  # py-spy attached before the release

        asyncio.run(
            hold_round(server.port, n, holder.held, holder.release, on_held=start_recording)
        )
        recorder.join()
    return attribute(parse_collapsed(texts[0] if texts else ""))


def run(ctx: Context) -> dict[str, Any]:
    ctx.log("profile: py-spy on gated workers (open path under wrk; release of 10,000)")
    out: dict[str, Any] = {}
    env = ctx.env(ctx.prefix("profile-wsgi"), "gate")
    with servers.gunicorn("profile-wsgi", "benchmarks.apps.wsgi_hello:app", env) as server:
        out["open_wsgi"] = _open_path(ctx, server, master=True)
    env = ctx.env(ctx.prefix("profile-asgi"), "gate")
    with servers.uvicorn("profile-asgi", "benchmarks.apps.asgi_hello:app", env) as server:
        out["open_asgi"] = _open_path(ctx, server, master=False)
    out["release_asgi_10000"] = _release(ctx, 10000)
    for name, result in out.items():
        ctx.log(f"  {name}: gate {result['gate_share']:.1%} of {result['samples']} samples")
        for row in result["top"][:4]:
            ctx.log(f"      {row['share']:6.1%}  {row['frame']}")
    return out
