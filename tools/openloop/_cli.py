"""``python -m tools.openloop``: one run from the command line, its JSON summary printed."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tools.openloop._generator import DEFAULT_MAX_CONNECTIONS
from tools.openloop._runs import run, write_jsonl

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.openloop",
        description="Open-loop HTTP load that never resends; prints a JSON summary.",
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="arrivals per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, help="one JSON line per request")
    parser.add_argument("--writes-every", type=int, default=4)
    parser.add_argument("--path-read")
    parser.add_argument("--path-write")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--run-id")
    parser.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS)
    parser.add_argument(
        "--follow-redirects", type=int, default=0, metavar="N", help="most hops per request"
    )
    parser.add_argument("--tag-header", help="response header recorded as each one's tag")
    args = parser.parse_args(argv)
    result = run(
        args.url, args.rate, args.seconds,
        writes_every=args.writes_every,
        path_read=args.path_read,
        path_write=args.path_write,
        timeout=args.timeout,
        run_id=args.run_id,
        max_connections=args.max_connections,
        follow_redirects=args.follow_redirects,
        tag_header=args.tag_header,
    )  # fmt: skip
    if args.out:
        write_jsonl(result.records, args.out)
    json.dump(result.summary().as_dict(), sys.stdout)
    sys.stdout.write("\n")
    return 0
