"""Reading Redis once per refresh and handing each frame to a view, until Ctrl-C.

A failed read is a frame too (the error, over what was last read): the watch goes on
retrying, since watching a deploy through a Redis failover is what it is for. Only
``--once`` lets the error out, so that a script gets the CLI's one line and status 75.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TextIO

import redis

from gatekeeper._parsers import redact_url
from gatekeeper.state._redis import serving_node
from gatekeeper.state.keys import Keys
from gatekeeper.state.store import read_status
from gatekeeper.watch._frame import ASCII_BLOCKS, BLOCKS, Frame, Where, build_frame, failed_frame
from gatekeeper.watch._plain import plain_lines

__all__ = ["frames", "read_heartbeats", "run_watch", "sample"]

PrintFrame = Callable[[Frame, TextIO], None]
RunLive = Callable[[Iterable[Frame], TextIO], None]


def read_heartbeats(client: redis.Redis, keys: Keys) -> dict[str, float]:
    """Each live process's last heartbeat (unix time): its score in ``<prefix>:procs``.

    ZRANGEBYSCORE, not ZMSCORE: the least-privilege ACL the README gives allows it."""
    pairs = client.zrangebyscore(keys.procs, "-inf", "+inf", withscores=True)
    beats: dict[str, float] = {}
    for pair in pairs:
        # (member, score), or a list of the two under RESP3
        member, score = (pair[0], pair[1]) if isinstance(pair, (tuple, list)) else (pair, None)
        name = member.decode("utf-8", "replace") if isinstance(member, bytes) else str(member)
        if isinstance(score, (int, float)) and math.isfinite(score):
            beats[name] = float(score)
    return beats


def sample(
    client: redis.Redis, keys: Keys, where: Where, previous: Frame | None, now: float
) -> Frame:
    """Read the status and heartbeats once and build the frame; RedisError passes."""
    status = read_status(client, keys)
    heartbeats = read_heartbeats(client, keys)
    node = serving_node(client)  # a failover changes it: show which node answered
    return build_frame(
        status, where=replace(where, node=node), heartbeats=heartbeats, previous=previous, now=now
    )


def _describe(error: redis.RedisError, where: Where) -> str:
    name = error.__class__.__name__
    # Only the class: a message may quote the URL, password included.
    if isinstance(error, (redis.AuthenticationError, redis.exceptions.NoPermissionError)):
        return f"Redis at {where.redis} refused: {name}"
    return f"cannot reach Redis at {where.redis}: {name}"


def frames(
    client: redis.Redis,
    keys: Keys,
    where: Where,
    interval: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Frame]:
    """A frame every ``interval`` seconds, forever; a failed read yields an error frame."""
    previous: Frame | None = None
    due = time.monotonic()
    while True:
        try:
            frame = sample(client, keys, where, previous, time.time())
        except redis.RedisError as exc:
            frame = failed_frame(previous, _describe(exc, where), where=where, now=time.time())
        else:
            previous = frame
        yield frame
        due += interval
        delay = due - time.monotonic()
        if delay < 0:
            # A read that took longer than the interval (Redis slow or retrying): start
            # the schedule afresh rather than fire the missed refreshes in a burst.
            due, delay = time.monotonic(), 0.0
        sleep(delay)


def _rich_view() -> tuple[PrintFrame, RunLive] | None:
    """rich's view, if the ``watch`` extra is installed (never imported otherwise)."""
    try:
        from gatekeeper.watch._rich import print_frame, run_live
    except ImportError:
        return None
    return print_frame, run_live


def _terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def _plain_writer(stream: TextIO) -> Callable[[Frame], None]:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        BLOCKS.encode(encoding)
        blocks = BLOCKS
    except (UnicodeEncodeError, LookupError):
        blocks = ASCII_BLOCKS

    def write(frame: Frame) -> None:
        text = "\n".join(plain_lines(frame, blocks)) + "\n"
        try:
            text.encode(encoding)
        except (UnicodeEncodeError, LookupError):
            text = text.encode("ascii", "backslashreplace").decode("ascii")
        stream.write(text)
        stream.flush()

    return write


def run_watch(
    client: redis.Redis,
    keys: Keys,
    url: str,
    *,
    interval: float = 1.0,
    once: bool = False,
    plain: bool = False,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """``gatekeeper watch``: rich's live view on a terminal (unless ``plain``, or rich is
    not installed), else a block of plain lines per refresh. Returns the exit status:
    0 after Ctrl-C or ``once``; with ``once`` a RedisError is raised for the caller."""
    stream = out if out is not None else sys.stdout
    where = Where(redact_url(url), keys.prefix)
    view = None if plain or not _terminal(stream) else _rich_view()
    try:
        if once:
            frame = sample(client, keys, where, None, time.time())
            if view is not None:
                view[0](frame, stream)
            else:
                _plain_writer(stream)(frame)
            return 0
        source = frames(client, keys, where, interval, sleep=sleep)
        if view is not None:
            view[1](source, stream)
        else:
            write = _plain_writer(stream)
            for frame in source:
                write(frame)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # `gatekeeper watch | head`: the reader left. Point stdout at /dev/null so the
        # interpreter's last flush finds nothing to complain about (as Python's docs do).
        if stream is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0
