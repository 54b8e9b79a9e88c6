"""Code-only deploys lose nothing: real servers reloaded with ``gatekeeper reload``, loaded
by clients that never resend (wrk, and the open-loop generator), directly and through a
real nginx in front of two hosts reloaded one after the other.

A reset, an EOF before the response or a 502 counts as a failure. The scenarios are
those of ``benchmarks/reload.py`` (one round here; the benchmark runs three).
"""

from __future__ import annotations

import itertools

import pytest

from benchmarks.reload import RECOMMENDED, Outcome, Scenario, run_scenario

pytestmark = pytest.mark.slow

_prefixes = itertools.count()

RECOMMENDED_NGINX = RECOMMENDED
"""What the README recommends for the upstream servers (see "Deploying code")."""


def _run(redis_url: str, scenario: Scenario) -> Outcome:
    outcome = run_scenario(scenario, redis_url, f"deploy{next(_prefixes)}")
    print(scenario.label, outcome.as_dict())
    return outcome


@pytest.mark.parametrize("server", ["gunicorn-gthread", "gunicorn-sync"])
def test_gunicorn_reloaded_with_gatekeeper_loses_nothing_under_wrk(
    redis_url: str, server: str
) -> None:
    outcome = _run(redis_url, Scenario(server, "direct", True, "wrk", rounds=1))  # type: ignore[arg-type]
    assert outcome.reloads == 1
    assert outcome.requests > 1000
    assert (outcome.socket_errors, outcome.non_2xx) == (0, 0)


def test_gunicorn_two_hosts_behind_nginx_reloaded_in_turn_lose_nothing(redis_url: str) -> None:
    outcome = _run(redis_url, Scenario("gunicorn-gthread", "nginx", True, "wrk", rounds=1))
    assert outcome.reloads == 2
    assert (outcome.socket_errors, outcome.non_2xx, outcome.nginx_502) == (0, 0, 0)


def test_uvicorn_reload_without_gatekeeper_loses_requests_on_kept_alive_connections(
    redis_url: str,
) -> None:
    # The control: the load generator sees the loss that gatekeeper reload removes.
    outcome = _run(redis_url, Scenario("uvicorn", "direct", False, "wrk", rounds=1))
    assert outcome.socket_errors > 3


def test_uvicorn_reloaded_with_gatekeeper_at_most_3_errors_per_reload(redis_url: str) -> None:
    outcome = _run(redis_url, Scenario("uvicorn", "direct", True, "wrk", rounds=1))
    assert outcome.reloads == 1
    assert outcome.socket_errors <= 3
    assert outcome.non_2xx == 0


def test_uvicorn_two_hosts_behind_nginx_reloaded_in_turn_no_non_2xx(redis_url: str) -> None:
    scenario = Scenario(
        "uvicorn", "nginx", True, "wrk", rounds=1, nginx_server_params=RECOMMENDED_NGINX
    )
    outcome = _run(redis_url, scenario)
    assert outcome.reloads == 2
    assert (outcome.socket_errors, outcome.non_2xx, outcome.nginx_502) == (0, 0, 0)


def test_open_loop_through_nginx_both_hosts_reloaded_every_request_answered_once(
    redis_url: str,
) -> None:
    scenario = Scenario(
        "uvicorn", "nginx", True, "openloop", rounds=1, rate=200,
        nginx_server_params=RECOMMENDED_NGINX,
    )  # fmt: skip
    outcome = _run(redis_url, scenario)
    assert outcome.reloads == 2
    # Arrivals at 200/s went on across both reloads (each ~8 s, COMMAND and waits).
    assert outcome.requests >= 200 * sum(outcome.reload_seconds)
    assert outcome.failures == {}
    assert outcome.non_2xx == 0
    assert (outcome.journal_missing, outcome.journal_duplicates) == (0, 0)
