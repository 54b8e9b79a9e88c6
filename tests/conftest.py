"""Shared fixtures: a real redis-server per test session, a fresh key prefix per test, and
``run_async`` to run one test under each async library."""

from __future__ import annotations

import itertools
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
import redis

from gatekeeper import Gate, build_options
from gatekeeper.state.keys import Keys
from gatekeeper.testing import RedisServer, RedisServerMissing
from tests.support.postgres import PostgresServer, PostgresServerMissing

_counter = itertools.count()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except RedisServerMissing as exc:
        # Never a skip: a missing Redis means the set-up step did not run.
        pytest.fail(str(exc), pytrace=False)
    with server:
        yield server


@pytest.fixture(params=["asyncio", "uvloop", "trio"], ids=["asyncio", "uvloop", "trio"])
def run_async(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``run(fn, *args)``: ``await fn(*args)`` in a fresh run of the test's library, asyncio
    (its own loop, or uvloop's, as uvicorn runs it) or trio (``anyio.run``): each test that
    takes it has one id per library.

    For plain ``def`` tests with an inner ``async def``: pytest-asyncio (auto mode) takes
    every ``async def`` test and runs it on asyncio only, anyio's plugin included.
    """
    backend = "trio" if request.param == "trio" else "asyncio"
    options = {"use_uvloop": True} if request.param == "uvloop" else None

    def run(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return anyio.run(fn, *args, backend=backend, backend_options=options)

    return run


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    if redis_server.process is None:  # a test stopped it; bring it back
        redis_server.start()
    return redis_server.url


@pytest.fixture
def prefix() -> str:
    return f"gk{os.getpid()}t{next(_counter)}"


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def make_gate(redis_url: str, prefix: str) -> Iterator[Callable[..., Gate]]:
    """Gates on the session's Redis with this test's prefix; their watchers stop after."""
    gates: list[Gate] = []

    def factory(**options: Any) -> Gate:
        options.setdefault("redis_url", redis_url)
        options.setdefault("prefix", prefix)
        gate = Gate(build_options(options))
        gates.append(gate)
        return gate

    yield factory
    for gate in gates:
        gate.watcher.close()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster for this test module (role and database ``gk``, trust
    auth on 127.0.0.1; connect with ``psycopg.connect(postgres.dsn)``). Its tests share
    it: give tables names of their own."""
    try:
        server = PostgresServer()
    except PostgresServerMissing as exc:
        # Never a skip: a missing server means scripts/setup.sh did not run.
        pytest.fail(str(exc), pytrace=False)
    with server:
        yield server
