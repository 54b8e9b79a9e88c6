"""ReadAhead on a real event loop of each library: buffering while held, hand-over, the
limit, leaving. Every test runs under asyncio and under trio (``run_async``).

The server side is a hand-written ASGI ``receive`` that takes each message off a queue
(what a server's ``receive`` is). The read-ahead's reads run on the running library's
lot (an asyncio task, or a trio system task), through a ``spawn`` that tells the test
when the read-ahead has handled each read. Orderings are forced by waiting for the read
under way and then for the read-ahead to have handled it, never by sleeping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import pytest

from gatekeeper.middleware._readahead import READ_AHEAD_LIMIT, ReadAhead
from gatekeeper.state._parking import LoopLots, Reading
from tests.support.asgi_support import MessageQueue

TIMEOUT = 5.0

Message = MutableMapping[str, Any]
Run = Callable[..., Any]


def body(data: bytes, more: bool = True) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


DISCONNECT: Message = {"type": "http.disconnect"}


class Client:
    """The server's ``receive`` (each call waits for the next item on a queue), and the
    read-ahead's ``spawn``: the running library's own, with each read recorded.

    An item that is an exception is raised by that call instead (a connection reset).
    Made inside the run: it takes the lot of the library that is running.
    """

    def __init__(self) -> None:
        self.queue: MessageQueue[Message | BaseException] = MessageQueue()
        self.calls = 0
        """Calls to receive(), counted when made: a read's, at once under asyncio, when its
        system task first runs under trio."""
        self.readings: list[Reading] = []
        """The read-ahead's reads, as spawned."""
        self._lot = LoopLots().for_running_loop()
        self._waiting: dict[int, anyio.Event] = {}
        self._handled: dict[int, anyio.Event] = {}

    def receive(self) -> Awaitable[Message]:
        self.calls += 1
        return self._read(self.calls)

    async def _read(self, n: int) -> Message:
        _event(self._waiting, n).set()
        item = await self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def spawn(self, receive: Callable[[], Awaitable[Any]], done: Callable[[Any], None]) -> Reading:
        """The lot's ``spawn``, whose ``done`` also tells :meth:`answer` it has run."""
        handled = _event(self._handled, len(self.readings) + 1)

        def done_then_tell(reading: Any) -> None:
            done(reading)
            handled.set()

        reading = self._lot.spawn(receive, done_then_tell)
        self.readings.append(reading)
        return reading

    async def read(self, n: int) -> Reading:
        """The read-ahead's ``n``-th read (from 1), once it is waiting for its message."""
        with anyio.fail_after(TIMEOUT):
            await _event(self._waiting, n).wait()
        return self.readings[n - 1]

    async def answer(self, n: int, item: Message | BaseException) -> None:
        """Answer the read-ahead's ``n``-th read and wait until the reader has handled it
        (its callback has returned, a next read spawned if it reads on)."""
        await self.read(n)
        self.queue.put_nowait(item)
        with anyio.fail_after(TIMEOUT):
            await self._handled[n].wait()


def _event(events: dict[int, anyio.Event], n: int) -> anyio.Event:
    if n not in events:
        events[n] = anyio.Event()
    return events[n]


async def app_receive(read_ahead: ReadAhead) -> Message:
    with anyio.fail_after(TIMEOUT):
        return await read_ahead.receive()


async def receive_while_sent(
    read_ahead: ReadAhead, client: Client, item: Message | BaseException
) -> Message:
    """The app's ``receive()`` called, and ``item`` sent by the client meanwhile."""
    got: list[Message] = []

    async def app() -> None:
        got.append(await app_receive(read_ahead))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(app)
        client.queue.put_nowait(item)
    return got[0]


def test_body_sent_while_held_is_buffered_then_replayed_in_order(run_async: Run) -> None:
    async def scenario() -> None:
        client = Client()
        read_ahead = ReadAhead(client.receive)
        gone: list[bool] = []
        read_ahead.start(lambda: gone.append(True), client.spawn)
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

    run_async(scenario)


def test_first_app_receive_after_hand_over_gets_the_read_under_way(run_async: Run) -> None:
    async def scenario() -> None:
        client = Client()
        read_ahead = ReadAhead(client.receive)
        read_ahead.start(lambda: None, client.spawn)
        first_read = await client.read(1)
        read_ahead.hand_over()

        message = body(b"late", more=False)
        assert await receive_while_sent(read_ahead, client, message) is message
        assert first_read.result() is message
        assert (client.calls, len(client.readings)) == (1, 1)  # no second call to the server

        # After that, the app's receive is the server's.
        assert await receive_while_sent(read_ahead, client, DISCONNECT) is DISCONNECT
        assert client.calls == 2

    run_async(scenario)


def test_buffered_messages_come_before_the_read_under_way_after_hand_over(
    run_async: Run,
) -> None:
    async def scenario() -> None:
        client = Client()
        read_ahead = ReadAhead(client.receive)
        read_ahead.start(lambda: None, client.spawn)
        first = body(b"first")
        await client.answer(1, first)
        await client.read(2)
        read_ahead.hand_over()

        second = body(b"second", more=False)
        client.queue.put_nowait(second)
        assert await app_receive(read_ahead) is first
        assert await app_receive(read_ahead) is second
        assert client.calls == 2

    run_async(scenario)


def test_message_arriving_as_the_hold_ends_reaches_the_app_exactly_once(run_async: Run) -> None:
    async def scenario() -> None:
        client = Client()
        read_ahead = ReadAhead(client.receive)
        read_ahead.start(lambda: None, client.spawn)
        await client.read(1)
        message = body(b"racing", more=False)
        client.queue.put_nowait(message)  # the read completes on the loop's next turn...
        read_ahead.hand_over()  # ...after the hold has already ended

        assert await app_receive(read_ahead) is message
        assert client.calls == 1  # not buffered and re-read: handed over as is
        # not `message` again
        assert await receive_while_sent(read_ahead, client, DISCONNECT) is DISCONNECT
        assert client.calls == 2

    run_async(scenario)


def test_body_past_read_ahead_limit_pauses_reading_until_the_app_reads(run_async: Run) -> None:
    async def scenario() -> None:
        assert READ_AHEAD_LIMIT == 1 << 20
        client = Client()
        read_ahead = ReadAhead(client.receive)
        read_ahead.start(lambda: None, client.spawn)
        quarter = READ_AHEAD_LIMIT // 4
        chunks = [body(bytes([65 + i]) * quarter) for i in range(5)]
        for n, chunk in enumerate(chunks[:4], start=1):
            await client.answer(n, chunk)
        await client.read(5)  # exactly the limit buffered: still reading
        assert client.calls == 5

        await client.answer(5, chunks[4])  # past the limit
        # paused: no sixth read was started (nor spawned, to start later under trio)
        assert (client.calls, len(client.readings)) == (5, 5)
        client.queue.put_nowait(DISCONNECT)  # so this is not seen while held
        assert client.queue.qsize() == 1
        assert read_ahead.gone is False

        read_ahead.hand_over()
        for chunk in chunks:
            assert await app_receive(read_ahead) is chunk
        assert client.calls == 5
        assert await app_receive(read_ahead) is DISCONNECT  # the app's own read
        assert client.calls == 6

    run_async(scenario)


def test_disconnect_while_held_sets_gone_and_calls_on_gone_once(run_async: Run) -> None:
    async def scenario() -> None:
        client = Client()
        read_ahead = ReadAhead(client.receive)
        gone: list[bool] = []
        read_ahead.start(lambda: gone.append(True), client.spawn)
        await client.answer(1, body(b"partial"))
        assert (read_ahead.gone, gone) == (False, [])

        await client.answer(2, DISCONNECT)
        assert read_ahead.gone is True
        assert gone == [True]
        # nothing more is read after the client left
        assert (client.calls, len(client.readings)) == (2, 2)

    run_async(scenario)


def test_receive_error_while_held_reaches_the_apps_receive(run_async: Run) -> None:
    async def scenario() -> None:
        client = Client()
        read_ahead = ReadAhead(client.receive)
        gone: list[bool] = []
        read_ahead.start(lambda: gone.append(True), client.spawn)
        first = body(b"before the reset")
        await client.answer(1, first)
        error = ConnectionResetError("peer reset")
        await client.answer(2, error)
        assert (read_ahead.gone, gone) == (False, [])  # an error is not a disconnect
        assert (client.calls, len(client.readings)) == (2, 2)  # reading stopped at the error

        read_ahead.hand_over()
        assert await app_receive(read_ahead) is first
        with pytest.raises(ConnectionResetError) as raised:
            await app_receive(read_ahead)
        assert raised.value is error
        assert client.calls == 2  # the error came from the read under way, not a new call

    # Under trio the error was raised in a system task: had it escaped there, the run
    # would have ended in TrioInternalError.
    run_async(scenario)


def test_reader_never_started_passes_receive_straight_through(run_async: Run) -> None:
    async def scenario() -> None:
        client = Client()
        read_ahead = ReadAhead(client.receive)  # not held: start() never called
        assert client.calls == 0
        message = body(b"direct", more=False)
        client.queue.put_nowait(message)
        assert await app_receive(read_ahead) is message
        assert client.calls == 1
        assert client.readings == []

    run_async(scenario)
