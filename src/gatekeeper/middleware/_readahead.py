"""Reading a held ASGI request's body while it waits, so a client that leaves is seen.

While a request is held the middleware keeps one ``receive()`` call under way: body
messages are buffered (up to 1 MiB, then reading pauses) and an ``http.disconnect``
ends the hold at once, so the request never reaches the app. When the hold ends the
read that is still under way is handed over, not cancelled: the app's first ``receive()``
takes the buffered messages and then that very call. (A cancelled ``receive()`` costs the
server an exception per request, a quarter of the CPU when thousands are released.) If
the app never reads, the call ends by itself when the response completes, as servers
answer a pending ``receive()`` with ``http.disconnect`` then.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from gatekeeper.middleware._types import Message, Receive
from gatekeeper.state._parking import Reading, Spawn

__all__ = ["READ_AHEAD_LIMIT", "ReadAhead"]

READ_AHEAD_LIMIT = 1 << 20
"""Body bytes buffered while held; past this, reading pauses until the app reads."""


class ReadAhead:
    """One held request's reader (a :class:`gatekeeper.middleware.gate.DisconnectWatch`)."""

    __slots__ = (
        "_done", "_first", "_more", "_on_gone", "_pending", "_receive", "_size", "_spawn",
        "gone",
    )  # fmt: skip

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        # The oldest buffered message, then the rest: a GET buffers one message, and a
        # deque costs ~760 B per held request. ``_more`` has messages only while
        # ``_first`` is set.
        self._first: Message | None = None
        self._more: deque[Message] | None = None
        self._pending: Reading | None = None
        self._size = 0
        self._done = False
        self._on_gone: Callable[[], None] | None = None
        self._spawn: Spawn | None = None
        self.gone = False
        """Whether the client went away while held."""

    def start(self, on_gone: Callable[[], None], spawn: Spawn) -> None:
        """Begin reading (the hold has begun); ``on_gone`` is called if the client leaves.
        ``spawn`` runs each read beside the hold, on the running loop's library."""
        self._on_gone = on_gone
        self._spawn = spawn
        self._read_next()

    def hand_over(self) -> None:
        """The hold is over: stop reading ahead; :meth:`receive` takes it from here."""
        self._done = True

    async def receive(self) -> Message:
        """The app's ``receive``: buffered messages, then the read under way, then new."""
        first = self._first
        if first is not None:
            more = self._more
            self._first = more.popleft() if more else None
            return first
        pending, self._pending = self._pending, None
        if pending is not None:
            message: Message = await pending
            return message
        return await self._receive()

    def _read_next(self) -> None:
        assert self._spawn is not None
        self._pending = self._spawn(self._receive, self._arrived)

    def _arrived(self, pending: Reading) -> None:
        if pending.cancelled():
            return
        # Asked first, always: it marks the error as seen, so a request answered 503 that
        # never calls receive() again does not leave "exception was never retrieved" in
        # the log. An app that does call it still gets the error raised from the future.
        if pending.exception() is not None or self._done:
            return  # the app's receive() gets this result (or error) from the future
        self._pending = None
        message: Message = pending.result()
        if message["type"] == "http.disconnect":
            self.gone = True
            if self._on_gone is not None:
                self._on_gone()
            return
        if self._first is None:
            self._first = message
        else:
            if self._more is None:
                self._more = deque()
            self._more.append(message)
        self._size += len(message.get("body", b""))
        if self._size <= READ_AHEAD_LIMIT:
            self._read_next()  # a disconnect after the body is what is still to be seen
