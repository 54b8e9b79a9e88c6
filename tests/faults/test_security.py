"""The bypass cannot be abused, secrets stay secret, TLS and Redis ACLs work."""

from __future__ import annotations

import hmac
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import trustme
from werkzeug.test import Client

from gatekeeper import Gate, Mode, WSGIMiddleware
from gatekeeper.cli import main
from gatekeeper.core import bypass as bypass_module
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import RedisServer, free_port
from tests.support.helpers import wait_for

SECRET = "Staff-Only-0123456789_abc"
PASSWORD = "redis-pw-4f1c2e"


def ok_app(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"inside"]


def test_bypass_secret_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(bypass_module.hmac, "compare_digest", spy)
    assert bypass_module.secret_matches(SECRET, SECRET) is True
    assert bypass_module.secret_matches(SECRET, "x") is False
    token = bypass_module.make_token(SECRET, time.time(), 60)
    assert bypass_module.token_valid(SECRET, token, time.time()) is True
    assert len(calls) == 3


def test_secret_never_logged_or_reflected(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r.set(keys.state, "maintenance")
    app = WSGIMiddleware(ok_app, gate=make_gate(bypass_secret=SECRET))
    browser = Client(app)  # keeps cookies, like a browser
    responses = [
        browser.get(f"/__gatekeeper__/bypass/{SECRET}"),
        browser.get("/"),
        Client(app).get("/", headers={"X-Gatekeeper-Bypass": SECRET}),
        Client(app).get("/", headers={"X-Gatekeeper-Bypass": SECRET + "x"}),
        Client(app).get(f"/__gatekeeper__/bypass/{SECRET}x"),
    ]
    assert [resp.status_code for resp in responses] == [303, 200, 200, 503, 503]
    for response in responses:
        assert SECRET not in response.get_data(as_text=True)
        assert all(SECRET not in value for _, value in response.headers.items())
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_redis_password_never_in_logs(
    make_gate: Callable[..., Gate], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gate = make_gate(redis_url=f"redis://user:{PASSWORD}@127.0.0.1:{free_port()}/0")
    assert gate.watcher.wait_ready().mode is Mode.OPEN
    wait_for(lambda: any("unreachable" in rec.getMessage() for rec in caplog.records), 3.0)
    assert caplog.records
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> tuple[RedisServer, Path]:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    port = free_port()
    server = RedisServer(
        port=free_port(),
        extra_args=(
            "--tls-port", str(port), "--tls-cert-file", str(cert_file),
            "--tls-key-file", str(key_file), "--tls-ca-cert-file", str(ca_file),
            "--tls-auth-clients", "no", "--requirepass", PASSWORD,
        ),
    )  # fmt: skip
    server.start()
    server.tls_port = port  # type: ignore[attr-defined]
    yield server, ca_file  # type: ignore[misc]
    server.stop()


def test_rediss_tls_with_password_works_for_gate_runner_and_status(
    tls_redis: tuple[RedisServer, Path],
    make_gate: Callable[..., Gate],
    prefix: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    server, ca_file = tls_redis
    url = f"rediss://:{PASSWORD}@127.0.0.1:{server.tls_port}/0?ssl_ca_certs={ca_file}"  # type: ignore[attr-defined]
    gate = make_gate(redis_url=url, poll_interval=0.2)
    assert gate.watcher.wait_ready().source == "redis"
    assert main(["--redis-url", url, "--prefix", prefix, "maintenance"]) == 0
    wait_for(lambda: gate.watcher.snapshot.mode is Mode.MAINTENANCE, 2.0)  # type: ignore[union-attr]
    done = subprocess.run(
        [sys.executable, "-m", "gatekeeper", "--redis-url", url, "--prefix", prefix,
         "run-migration", "--json", "--", "true"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["final_state"] == "open"
    assert main(["--redis-url", url, "--prefix", prefix, "status"]) == 0
    out, err = capfd.readouterr()
    everything = (
        out + err + done.stdout + done.stderr + "".join(r.getMessage() for r in caplog.records)
    )
    assert PASSWORD not in everything
    assert "rediss://:***@127.0.0.1" in out


ACL_COMMANDS = (
    "+ping +get +set +del +mget +pttl +ttl +pexpire +hset +hgetall +zadd +zrem "
    "+zrangebyscore +zremrangebyscore +publish +subscribe +unsubscribe +multi +exec "
    "+evalsha +eval +script|load"
)


def acl_line(prefix: str, password: str) -> list[str]:
    """The README's ACL line, for this prefix."""
    return [
        "ACL", "SETUSER", "gatekeeper", "on", f">{password}", "resetkeys", f"~{prefix}:*",
        "resetchannels", f"&{prefix}:events", f"&__keyspace@*__:{prefix}:*", "-@all",
        *ACL_COMMANDS.split(),
    ]  # fmt: skip


def test_gate_and_runner_work_under_the_documented_acl(
    make_gate: Callable[..., Gate], prefix: str
) -> None:
    with RedisServer() as server:
        admin = redis.Redis.from_url(server.url)
        admin.execute_command(*acl_line(prefix, "acl-pw-1"))
        url = f"redis://gatekeeper:acl-pw-1@127.0.0.1:{server.port}/0"
        limited = redis.Redis.from_url(url)
        with pytest.raises(redis.exceptions.NoPermissionError):
            limited.set("someone-elses-key", "1")
        gate = make_gate(redis_url=url, poll_interval=0.2)
        assert gate.watcher.wait_ready().source == "redis"
        keys = Keys(prefix)
        wait_for(lambda: read_processes(limited, keys), 3.0, what="heartbeat under the ACL")
        done = subprocess.run(
            [sys.executable, "-m", "gatekeeper", "--redis-url", url, "--prefix", prefix,
             "run-migration", "--json", "--", "true"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["undrained"] == []
        assert summary["processes"] == 1
        assert main(["--redis-url", url, "--prefix", prefix, "hold", "--ttl", "5"]) == 0
        wait_for(lambda: gate.watcher.snapshot.mode is Mode.HOLD, 2.0)  # type: ignore[union-attr]
        assert main(["--redis-url", url, "--prefix", prefix, "status", "--json"]) == 0
        gate.watcher.close()
