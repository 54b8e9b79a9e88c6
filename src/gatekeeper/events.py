"""Structured events: one log record per operation, on the ``gatekeeper`` logger.

Every event is an ordinary :mod:`logging` record whose message is the human text that
gatekeeper printed or logged before events existed, so a text handler shows exactly what
it showed; the event's name and fields ride along in ``extra`` (``record.gatekeeper_event``
and ``record.gatekeeper_fields``). :class:`JsonFormatter` renders them one JSON object per
line, ``gatekeeper --log-format json`` (or ``GATEKEEPER_LOG_FORMAT=json``) on stderr::

    {"ts": "2026-12-03T15:40:01.123Z", "level": "info", "logger": "gatekeeper",
     "event": "runner.released", "message": "released (open) after 1.52s: ...",
     "final_state": "open", "held": 3, ...}

Names and fields are a contract: names are ``<area>.<what>``, fields snake_case with the
unit in the name (``held_seconds``); a field that is unknown is ``null``, never absent.
Strings are masked (:mod:`gatekeeper._masking`), Redis URLs redacted, and COMMAND shown
with its credentials masked. Levels: ``info`` for progress, ``warning`` when something
is not as it should be, ``error`` when gatekeeper cannot do what it must.

run-migration (every event but ``runner.lease`` in the order a run meets them):
``runner.checking_pending`` (check), ``runner.not_pending``, ``runner.ungated`` (error),
``runner.refused`` (problem, processes, hosts, redis), ``runner.locked`` (owner, mode),
``runner.holding`` (mode, ttl_seconds, max_hold_seconds, generation),
``runner.draining`` (processes), ``runner.drain_retry`` (error), ``runner.unprotected``
(redis), ``runner.drain_timeout`` (undrained, timeout_seconds, strict),
``runner.drained`` (processes, hosts, seconds, complete, undrained),
``runner.migrating`` (command), ``runner.overrun`` (max_hold_seconds),
``runner.overrun_failed`` (error), ``runner.command_not_started`` (command, error),
``runner.restarting`` (command), ``runner.restart_failed`` (exit_code),
``runner.awaiting_release`` (release, hosts, timeout_seconds), ``runner.release_timeout``
(release, missing, timeout_seconds), ``runner.release_retry`` (error),
``runner.release_failed``, ``runner.left_operator_state`` (state), ``runner.handoff``
(release, timeout_seconds), ``runner.handoff_stragglers`` (stragglers),
``runner.handoff_clear_failed``, ``runner.released`` (final_state, outcome, exit_code,
held_seconds, held, released, rejected, handed_off, client_gone,
longest_wait_seconds), and, for a
run that never held (outcomes ``not-pending``, ``ungated``, ``too-few-processes``),
``runner.finished`` (outcome, exit_code) instead. ``runner.lease`` (kind: ``restored``,
``overridden``, ``lock-lost``, ``redis-error``, ``redis-ok``; detail) whenever the lease
reports. ``runner.pending_check_failed`` (check, error) when CHECK cannot start.

reload: ``reload.refused`` (missing, redis), ``reload.unprotected``, ``reload.locked``
(owner), ``reload.keepalive_off`` (hosts, processes), ``reload.unacknowledged``
(processes, timeout_seconds), ``reload.closing`` (close_for_seconds), ``reload.restarting``
(command), ``reload.command_not_started`` (error), ``reload.command_failed`` (exit_code),
``reload.waiting`` (release, timeout_seconds), ``reload.timeout`` (stragglers,
timeout_seconds), ``reload.replaced`` (processes, releases), ``reload.keepalive_retry``
(error), ``reload.keepalive_on``, ``reload.keepalive_failed`` (ttl_seconds),
``reload.lease`` (kind, detail), ``reload.done`` (outcome, exit_code, seconds).

Each web process's watcher (every event carries ``redis``, the redacted URL, and
``process``, the process id): ``watcher.connected`` (the first successful read),
``watcher.lost`` (error, kept_state, stale_timeout_seconds, fail_mode),
``watcher.stale`` (kept_state, stale_timeout_seconds: logged with ``lost`` when a state
is kept), ``watcher.failed_open`` / ``watcher.failed_closed`` (lost_seconds),
``watcher.recovered`` (lost_seconds), ``watcher.state_changed`` (from, to, source),
``watcher.vanished`` (key, kept_state, keep_seconds), ``watcher.keyspace_refused``
(error), ``watcher.bug`` (error), ``state.invalid`` (key, problem, value: the offending
value from Redis, truncated, or ``null`` when the problem names none).

The operator commands: ``cli.state_set`` (state, key, ttl_seconds) and ``cli.error``
(exit_code) in JSON mode, where an error must be a JSON line too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from gatekeeper._masking import mask_text

__all__ = ["LOG_FORMATS", "JsonFormatter", "cli_logging", "emit", "logger"]

logger = logging.getLogger("gatekeeper")

LOG_FORMATS = ("text", "json")

_BASE = ("ts", "level", "logger", "event", "message", "exc")
_MAX_DEPTH = 4
_MAX_STRING = 4000
"""Characters of one string value at most: a line must stay a line a log system takes."""


def emit(
    event: str,
    message: str,
    *,
    level: int = logging.INFO,
    exc_info: BaseException | None = None,
    **fields: Any,
) -> None:
    """Log ``message`` on the ``gatekeeper`` logger as the event ``event`` with ``fields``.

    ``message`` is the record's ``msg`` with no ``args``, so logging never %-formats it: it
    may hold text from Redis. Fields must not be named ``event``, ``message`` or ``level``
    (they are this function's own parameters)."""
    if not logger.isEnabledFor(level):
        return  # building the record costs more than the check
    extra = {"gatekeeper_event": event, "gatekeeper_fields": fields}
    logger.log(level, message, extra=extra, exc_info=exc_info)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line of ASCII. Never raises.

    ASCII: ``ensure_ascii`` escapes every non-ASCII character, so no U+2028 or NEL from a
    Redis value can split a line for a reader that splits on them (``str.splitlines``).
    ``secrets``: texts to replace by ``***`` wherever they appear (a Redis password); any
    string also goes through :func:`gatekeeper._masking.mask_text`. Records that are not
    events (another library's, a plain ``logger.info``) have ``"event": null``. A field
    named like a base key is renamed ``field_<name>``: the base keys mean one thing.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(secret for secret in secrets if secret)

    def format(self, record: logging.LogRecord) -> str:
        try:
            return json.dumps(self._object(record), ensure_ascii=True, allow_nan=False)
        except Exception as exc:  # a log line must never take the program down
            return self._fallback(record, exc)

    def _fallback(self, record: logging.LogRecord, exc: Exception) -> str:
        """A line that says a record was lost, from nothing of the record that can fail."""
        level = getattr(record, "levelname", None)
        name = getattr(record, "name", None)
        fallback = {
            "ts": _timestamp(time.time()),
            "level": level.lower() if isinstance(level, str) else "error",
            "logger": name if isinstance(name, str) else None,
            "event": None,
            "message": "unformattable log record",
            "format_error": exc.__class__.__name__,
        }
        return json.dumps(fallback, ensure_ascii=True)

    def _object(self, record: logging.LogRecord) -> dict[str, Any]:
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: show what there is
            message = f"{record.msg!s} {record.args!r}"
        event = getattr(record, "gatekeeper_event", None)
        out: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event if isinstance(event, str) else None,
            "message": self._clean(message),
        }
        if record.exc_info:
            out["exc"] = self._clean(self.formatException(record.exc_info))
        fields = getattr(record, "gatekeeper_fields", None)
        if isinstance(fields, dict):
            for name, value in fields.items():
                key = str(name)
                out[f"field_{key}" if key in _BASE else key] = self._value(value, 0)
        return out

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return mask_text(text)[:_MAX_STRING]

    def _value(self, value: Any, depth: int) -> Any:
        """``value`` as JSON's own types; anything else becomes its ``str()``."""
        if value is None or isinstance(value, (bool, int)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, str):
            return self._clean(value)
        if depth < _MAX_DEPTH and isinstance(value, dict):
            return {self._clean(str(k)): self._value(v, depth + 1) for k, v in value.items()}
        if depth < _MAX_DEPTH and isinstance(value, (list, tuple, set, frozenset)):
            items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
            return [self._value(v, depth + 1) for v in items]
        try:
            return self._clean(str(value))
        except Exception:
            return f"<unprintable {type(value).__name__}>"


def _timestamp(created: float) -> str:
    """UTC, to the millisecond, with ``Z``: sortable as text, unambiguous across hosts."""
    whole = int(created)
    millis = min(999, int((created - whole) * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


@contextlib.contextmanager
def cli_logging(log_format: str, *, secrets: Iterable[str] = ()) -> Iterator[bool]:
    """The CLI's logging for one ``main()`` call; yields whether it is JSON.

    ``json``: a handler on stderr with :class:`JsonFormatter`, the ``gatekeeper`` logger at
    INFO. ``text``: a :class:`logging.NullHandler`, so that an event at WARNING, whose
    text the runner's progress lines already show, is not printed a second time by
    logging's last-resort handler. Both are undone on exit: tests call ``main()`` many
    times in one process, and an application's own logging must be left as it was.
    """
    handler: logging.Handler
    if log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter(secrets))
    else:
        handler = logging.NullHandler()
    level = logger.level
    logger.addHandler(handler)
    if log_format == "json" and (level == logging.NOTSET or level > logging.INFO):
        logger.setLevel(logging.INFO)
    try:
        yield log_format == "json"
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()
