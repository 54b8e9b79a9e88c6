"""Reading a Prometheus scrape in tests: the samples of one metric, summed over labels."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def fetch(base_url: str, path: str = "/metrics") -> str:
    response = httpx.get(base_url + path, timeout=5)
    assert response.status_code == 200, response.text[:200]
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def outcomes(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gatekeeper_hold_outcomes_total":
                outcome = sample.labels["outcome"]
                found[outcome] = found.get(outcome, 0.0) + sample.value
    return found
