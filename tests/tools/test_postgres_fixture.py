"""The ``postgres`` fixture runs a real PostgreSQL: it accepts logins, keeps what is written,
cleans up after itself and lets a second server run beside it."""

from __future__ import annotations

import os

import psycopg

from tests.support.postgres import PostgresServer


def test_fresh_server_accepts_gk_on_loopback(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.dsn) as conn:
        row = conn.execute(
            "SELECT current_user, current_database(), inet_server_addr()::text,"
            " inet_server_port(), current_setting('server_encoding'),"
            " current_setting('fsync'), current_setting('listen_addresses')"
        ).fetchone()
    assert row == ("gk", "gk", "127.0.0.1/32", postgres.port, "UTF8", "off", "127.0.0.1")
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_row_written_reads_back_on_new_connection(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.dsn) as conn:
        conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO notes (body) VALUES (%s)", ("héllo",))
    with psycopg.connect(postgres.dsn) as conn:
        assert conn.execute("SELECT id, body FROM notes").fetchall() == [(1, "héllo")]


def test_second_server_beside_first_keeps_its_own_data(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.dsn) as conn:
        conn.execute("CREATE TABLE beside (n int)")
        conn.execute("INSERT INTO beside VALUES (1)")
    with PostgresServer() as other:
        assert other.port != postgres.port
        with psycopg.connect(other.dsn) as conn:
            assert conn.execute("SELECT to_regclass('beside')").fetchone() == (None,)
            conn.execute("CREATE TABLE beside (n int)")
            conn.execute("INSERT INTO beside VALUES (2)")
        with psycopg.connect(other.dsn) as conn:
            assert conn.execute("SELECT n FROM beside").fetchall() == [(2,)]
        with psycopg.connect(postgres.dsn) as conn:
            assert conn.execute("SELECT n FROM beside").fetchall() == [(1,)]


def test_stopped_server_leaves_no_data_directory() -> None:
    server = PostgresServer()
    server.start()
    directory = server.directory
    assert directory is not None
    assert (directory / "data" / "PG_VERSION").is_file()
    if os.geteuid() == 0:  # the server runs as Debian's postgres user, never as root
        assert (directory / "data").stat().st_uid != 0
    server.stop()
    assert not directory.exists()
    assert server.process is None
    server.stop()  # a second stop is harmless
