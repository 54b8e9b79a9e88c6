"""5. Runner overhead: ``gatekeeper run-migration -- CMD`` against ``CMD`` alone.

Wall time of ``python -m gatekeeper run-migration -- true`` and ``-- sleep 5``, each
alternated with the bare command over rounds, against this run's Redis with no gate
process live under the prefix (nothing to drain). Beside them: ``-- true`` with a live
gated gunicorn (2 sync workers, idle) under the prefix, so the hold waits for their
drain reports; and the interpreter floor, ``python -c "import gatekeeper.cli"``, the part
of the overhead that is Python starting and importing. The section is skipped, with a
note, while ``python -m gatekeeper run-migration --help`` fails (no CLI yet).
The hold window beyond the command is :mod:`benchmarks.hold_window`'s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from benchmarks import servers
from benchmarks.config import Context
from benchmarks.hold_window import WINDOW_PROCESSES, measure_window
from benchmarks.stats import median
from benchmarks.wrk import run_wrk

__all__ = ["cli_available", "run"]

CLI = [sys.executable, "-m", "gatekeeper"]


def cli_available(cli: list[str] | None = None) -> tuple[bool, str]:
    """Whether ``run-migration --help`` works, and why not when it does not."""
    argv = [*(cli or CLI), "run-migration", "--help"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{' '.join(argv[1:])} could not run: {exc}"
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        return False, f"`{' '.join(argv[1:])}` exited {done.returncode}: {last[0][:200]}"
    return True, ""


def _wall(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    return time.perf_counter() - started, done.returncode, (done.stderr or done.stdout)[-300:]


def measure(
    command: list[str], rounds: int, env: dict[str, str], cli: list[str] | None = None
) -> dict[str, Any]:
    """Alternate ``command`` alone and under the runner; medians and the difference."""
    wrapped = [*(cli or CLI), "run-migration", "--", *command]
    alone: list[float] = []
    under: list[float] = []
    failures: list[str] = []
    for number in range(rounds):
        pair = ((alone, command), (under, wrapped))
        for out, argv in pair if number % 2 == 0 else pair[::-1]:
            seconds, code, tail = _wall(argv, env)
            out.append(seconds)
            if code != 0:
                failures.append(f"{' '.join(argv[-3:])} exited {code}: {tail.strip()}")
    alone_s, under_s = median(alone), median(under)
    return {
        "command": " ".join(command),
        "alone_s": alone_s,
        "runner_s": under_s,
        "overhead_s": None if alone_s is None or under_s is None else under_s - alone_s,
        "rounds": rounds,
        "failures": failures[:5],
    }


def run(ctx: Context, cli: list[str] | None = None) -> dict[str, Any]:
    available, why = cli_available(cli)
    if not available:
        note = f"skipped: the runner CLI is not available yet ({why})"
        ctx.log(f"runner overhead: {note}")
        return {"skipped": True, "note": note}
    s = ctx.settings
    prefix = ctx.prefix("runner")
    env = {**os.environ, **ctx.env(prefix)}
    ctx.log(f"runner overhead: `true` x{s.runner_rounds}, `sleep 5` x{s.sleep_rounds}")
    imports = [_wall([sys.executable, "-c", "import gatekeeper.cli"], env)[0] for _ in range(3)]
    results: dict[str, Any] = {
        "skipped": False,
        "import_floor_s": median(imports),
        "true": measure(["true"], s.runner_rounds, env, cli),
        "sleep5": measure(["sleep", "5"], s.sleep_rounds, env, cli),
    }
    live_prefix = ctx.prefix("runner-live")
    live_env = {**os.environ, **ctx.env(live_prefix)}
    app = "benchmarks.apps.wsgi_hello:app"
    with servers.gunicorn("runner-live", app, ctx.env(live_prefix), workers=2) as server:
        run_wrk(server.url, 1, 2, 8)  # both workers' watchers started
        results["true_live"] = measure(["true"], s.runner_rounds, live_env, cli)
        results["true_live"]["command"] = "true (2 live gate processes)"
    for key in ("true", "sleep5", "true_live"):
        r = results[key]
        if r["overhead_s"] is not None:
            ctx.log(f"  {r['command']}: alone {r['alone_s']:.3f}s, runner {r['runner_s']:.3f}s")
    ctx.log(
        f"runner hold window beyond the command: {s.window_rounds} rounds at "
        f"{', '.join(map(str, WINDOW_PROCESSES))} live processes"
    )
    results["window"] = {}
    for n in WINDOW_PROCESSES:
        w = results["window"][str(n)] = measure_window(ctx, n, s.window_rounds, cli)
        ctx.log(
            f"  {n} live: overhead median {w['median_ms']:.1f} ms, max {w['max_ms']:.1f} ms "
            f"(drain {w['drain_ms']:.1f}, spawn {w['spawn_ms']:.1f}, exit seen "
            f"{w['exit_ms']:.1f}, release {w['after_command_ms']:.1f}; runner's clock "
            f"{w['json_median_ms']:.1f})"
        )
    return results
