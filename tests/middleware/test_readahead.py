"""ReadAhead on a real event loop: buffering while held, hand-over, the limit, leaving.

The server side is a hand-written ASGI ``receive`` that takes each message off an
``asyncio.Queue`` (what a server's ``receive`` is). Orderings are forced by waiting for
the read under way and then for its completion, never by sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, MutableMapping
from typing import Any

import pytest

from gatekeeper.middleware._readahead import READ_AHEAD_LIMIT, ReadAhead

TIMEOUT = 5.0

Message = MutableMapping[str, Any]


def body(data: bytes, more: bool = True) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


DISCONNECT: Message = {"type": "http.disconnect"}


class Client:
    """The server's ``receive``: each call waits for the next item on a queue.

    An item that is an exception is raised by that call instead (a connection reset).
    """

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        self.calls = 0
        """Calls to receive(), counted when made (before the read starts running)."""
        self.reads: list[asyncio.Task[Any]] = []
        self._started = asyncio.Event()

    def receive(self) -> Awaitable[Message]:
        self.calls += 1
        return self._read()

    async def _read(self) -> Message:
        task = asyncio.current_task()
        assert task is not None
        self.reads.append(task)
        self._started.set()
        item = await self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def read(self, n: int) -> asyncio.Task[Any]:
        """The ``n``-th read (from 1), once it is waiting for its message."""

        async def started() -> None:
            while len(self.reads) < n:
                self._started.clear()
                await self._started.wait()

        await asyncio.wait_for(started(), TIMEOUT)
        return self.reads[n - 1]

    async def answer(self, n: int, item: Message | BaseException) -> None:
        """Answer the read-ahead's ``n``-th read and wait until the reader has handled it.

        The reader's done-callback was added when the read began, so it runs before
        the one :func:`asyncio.wait` adds here.
        """
        read = await self.read(n)
        self.queue.put_nowait(item)
        done, _ = await asyncio.wait([read], timeout=TIMEOUT)
        assert done, f"read {n} did not complete"


async def app_receive(read_ahead: ReadAhead) -> Message:
    return await asyncio.wait_for(read_ahead.receive(), TIMEOUT)


async def test_body_sent_while_held_is_buffered_then_replayed_in_order() -> None:
    client = Client()
    read_ahead = ReadAhead(client.receive)
    gone: list[bool] = []
    read_ahead.start(lambda: gone.append(True))
    chunks = [body(b"a"), body(b"b"), body(b"c", more=False)]
    for n, chunk in enumerate(chunks, start=1):
        await client.answer(n, chunk)
    # Reading goes on after the last chunk: a disconnect is what is still to be seen.
    await client.read(4)
    assert (client.calls, read_ahead.gone, gone) == (4, False, [])

    read_ahead.hand_over()
    replayed = [await app_receive(read_ahead) for _ in chunks]
    assert [m["body"] for m in replayed] == [b"a", b"b", b"c"]
    assert all(got is sent for got, sent in zip(replayed, chunks, strict=True))
    assert client.calls == 4  # replayed from the buffer, not read again


async def test_first_app_receive_after_hand_over_gets_the_read_under_way() -> None:
    client = Client()
    read_ahead = ReadAhead(client.receive)
    read_ahead.start(lambda: None)
    first_read = await client.read(1)
    read_ahead.hand_over()

    app = asyncio.ensure_future(app_receive(read_ahead))
    message = body(b"late", more=False)
    client.queue.put_nowait(message)
    assert await asyncio.wait_for(app, TIMEOUT) is message
    assert first_read.result() is message
    assert client.calls == 1  # no second call to the server's receive

    # After that, the app's receive is the server's.
    app = asyncio.ensure_future(app_receive(read_ahead))
    client.queue.put_nowait(DISCONNECT)
    assert await asyncio.wait_for(app, TIMEOUT) is DISCONNECT
    assert client.calls == 2


async def test_buffered_messages_come_before_the_read_under_way_after_hand_over() -> None:
    client = Client()
    read_ahead = ReadAhead(client.receive)
    read_ahead.start(lambda: None)
    first = body(b"first")
    await client.answer(1, first)
    await client.read(2)
    read_ahead.hand_over()

    second = body(b"second", more=False)
    client.queue.put_nowait(second)
    assert await app_receive(read_ahead) is first
    assert await app_receive(read_ahead) is second
    assert client.calls == 2


async def test_message_arriving_as_the_hold_ends_reaches_the_app_exactly_once() -> None:
    client = Client()
    read_ahead = ReadAhead(client.receive)
    read_ahead.start(lambda: None)
    await client.read(1)
    message = body(b"racing", more=False)
    client.queue.put_nowait(message)  # the read completes on the next loop turn...
    read_ahead.hand_over()  # ...after the hold has already ended

    assert await app_receive(read_ahead) is message
    assert client.calls == 1  # not buffered and re-read: handed over as is
    app = asyncio.ensure_future(app_receive(read_ahead))
    client.queue.put_nowait(DISCONNECT)
    assert await asyncio.wait_for(app, TIMEOUT) is DISCONNECT  # not `message` again
    assert client.calls == 2


async def test_body_past_read_ahead_limit_pauses_reading_until_the_app_reads() -> None:
    assert READ_AHEAD_LIMIT == 1 << 20
    client = Client()
    read_ahead = ReadAhead(client.receive)
    read_ahead.start(lambda: None)
    quarter = READ_AHEAD_LIMIT // 4
    chunks = [body(bytes([65 + i]) * quarter) for i in range(5)]
    for n, chunk in enumerate(chunks[:4], start=1):
        await client.answer(n, chunk)
    await client.read(5)  # exactly the limit buffered: still reading
    assert client.calls == 5

    await client.answer(5, chunks[4])  # past the limit
    assert client.calls == 5  # paused: no sixth read was started
    client.queue.put_nowait(DISCONNECT)  # so this is not seen while held
    assert client.queue.qsize() == 1
    assert read_ahead.gone is False

    read_ahead.hand_over()
    for chunk in chunks:
        assert await app_receive(read_ahead) is chunk
    assert client.calls == 5
    assert await app_receive(read_ahead) is DISCONNECT  # the app's own read
    assert client.calls == 6


async def test_disconnect_while_held_sets_gone_and_calls_on_gone_once() -> None:
    client = Client()
    read_ahead = ReadAhead(client.receive)
    gone: list[bool] = []
    read_ahead.start(lambda: gone.append(True))
    await client.answer(1, body(b"partial"))
    assert (read_ahead.gone, gone) == (False, [])

    await client.answer(2, DISCONNECT)
    assert read_ahead.gone is True
    assert gone == [True]
    assert client.calls == 2  # nothing more is read after the client left


async def test_receive_error_while_held_reaches_the_apps_receive() -> None:
    client = Client()
    read_ahead = ReadAhead(client.receive)
    gone: list[bool] = []
    read_ahead.start(lambda: gone.append(True))
    first = body(b"before the reset")
    await client.answer(1, first)
    error = ConnectionResetError("peer reset")
    await client.answer(2, error)
    assert (read_ahead.gone, gone) == (False, [])  # an error is not a disconnect
    assert client.calls == 2  # reading stopped at the error

    read_ahead.hand_over()
    assert await app_receive(read_ahead) is first
    with pytest.raises(ConnectionResetError) as raised:
        await app_receive(read_ahead)
    assert raised.value is error
    assert client.calls == 2  # the error came from the read under way, not a new call


async def test_reader_never_started_passes_receive_straight_through() -> None:
    client = Client()
    read_ahead = ReadAhead(client.receive)  # not held: start() never called
    assert client.calls == 0
    message = body(b"direct", more=False)
    client.queue.put_nowait(message)
    assert await app_receive(read_ahead) is message
    assert client.calls == 1
