"""Run the benchmark suite: ``python -m benchmarks [--quick] [--only NAME[,NAME]]``.

Starts its own ``redis-server`` and every server it measures on loopback, prints one
table per section and every target of the issue with met / missed, and writes
``results/latest.json`` and ``results/latest.svg`` (``--out`` to change the folder).

Sections: ``open`` (1. open-path overhead), ``instructions`` (1b. the same counted with
callgrind, which repeats to ±0.4 % on a busy machine), ``release`` (2. release latency, with 4.
memory), ``memory`` (only the 1,000 / 10,000 held rounds of ``release``),
``propagation`` (3.), ``runner`` (5.), ``burst`` (6. the requests that arrive just
after a release, and the held backlog's drain); ``reload`` (socket errors and non-2xx per
graceful reload, per server, direct and through nginx: about 20 minutes, also
``python -m benchmarks.reload``) is opt-in. Each backs a figure of the README. The load
is wrk: without it the command stops at once with one line saying so.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import (
    burst,
    instructions,
    multiproc,
    open_path,
    propagation,
    release,
    reload,
    runner,
)  # fmt: skip
from benchmarks.config import FULL, QUICK, Context
from benchmarks.holders import RELEASE_VIA
from benchmarks.machine import machine_info, machine_line
from benchmarks.report import render_report
from benchmarks.svg import build_panels, render_svg
from benchmarks.targets import judge
from benchmarks.wrk import find_wrk
from gatekeeper.testing import RedisServer, RedisServerMissing

DEFAULT = ("open", "instructions", "release", "propagation", "runner", "burst")
CHOICES = (*DEFAULT, "memory", "reload")
OUT = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="~2-minute smoke version")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"sections to run, comma-separated or repeated: {', '.join(CHOICES)}",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="folder for latest.json/.svg")
    args = parser.parse_args(argv)
    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CHOICES))
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; choose from {', '.join(CHOICES)}")
    args.sections = tuple(names) or DEFAULT
    return args


def plan(ctx: Context, names: tuple[str, ...]) -> list[tuple[str, Callable[[], Any]]]:
    """(result key, runner) pairs in the order they run."""
    steps: list[tuple[str, Callable[[], Any]]] = []
    if "open" in names:
        steps.append(("open", lambda: open_path.run(ctx)))
    if "instructions" in names:
        steps.append(("instructions", lambda: instructions.run(ctx)))
    if "release" in names or "memory" in names:
        ns = tuple(ctx.settings.asgi_rounds) if "release" in names else (1000, 10000)
        steps.append(("release_asgi", lambda: release.run_asgi(ctx, ns)))
    if "release" in names:
        steps.append(("release_wsgi", lambda: release.run_wsgi(ctx)))
        steps.append(("release_multi", lambda: multiproc.run(ctx)))
    if "propagation" in names:
        steps.append(("propagation", lambda: propagation.run(ctx)))
    if "runner" in names:
        steps.append(("runner", lambda: runner.run(ctx)))
    if "burst" in names:
        steps.append(("burst", lambda: burst.run(ctx)))
    if "reload" in names:
        steps.append(("reload", lambda: reload.run(ctx)))
    return steps


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "latest.json"
    path.write_text(json.dumps(results, indent=1, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        find_wrk()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 10,000 held connections
    settings = QUICK if args.quick else FULL
    info = machine_info()
    started = time.monotonic()
    results: dict[str, Any] = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": ["python", "-m", "benchmarks", *(argv if argv is not None else sys.argv[1:])],
        "settings": asdict(settings),
        "release_via": RELEASE_VIA,
        "machine": info,
        "machine_line": machine_line(info),
        "sections": {},
        "errors": {},
    }
    print(f"machine: {results['machine_line']}", flush=True)
    if info["loadavg_start"][0] > 0.5 * (info["cores"] or 1):
        print(
            f"note: load average {info['loadavg_start'][0]:.2f} on {info['cores']} cores: other "
            "processes compete for the CPU; paired ratios hold up better than absolute numbers",
            flush=True,
        )
    if hard < 10500 and ("release" in args.sections or "memory" in args.sections):
        print(f"note: open-files limit {hard}; 10,000 held connections need ~10,500", flush=True)
    try:
        redis_server = RedisServer()
    except RedisServerMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with redis_server:
        ctx = Context(settings, redis_server)
        for key, step in plan(ctx, args.sections):
            try:
                results["sections"][key] = step()
            except Exception as exc:  # one failed section must not lose the others
                traceback.print_exc()
                results["errors"][key] = f"{exc.__class__.__name__}: {exc}"[:500]
            write(results, args.out)
    info["loadavg_end"] = list(os.getloadavg())
    results["machine_line"] = machine_line(info)
    results["wall_seconds"] = time.monotonic() - started
    targets = judge(results)
    results["targets"] = [t.as_dict() for t in targets]
    write(results, args.out)
    verdicts = {t.metric: t.met for t in targets}
    heading = f"gatekeeper benchmarks ({settings.name}, {results['created']})"
    svg = render_svg(build_panels(results, verdicts), heading, results["machine_line"])
    (args.out / "latest.svg").write_text(svg + "\n")
    print()
    print(render_report(results, targets))
    print(f"\nwall time {results['wall_seconds']:.0f} s; wrote {args.out / 'latest.json'} and .svg")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
