"""The OpenTelemetry backend: the gate's figures as OTel metrics, and a span event on
every request that was held.

Only ``opentelemetry-api`` is imported; what is exported, and where, is the app's
OpenTelemetry SDK setup (a meter provider set later is picked up: the API's meters are
proxies until then). Names follow the OTel conventions: dotted, units apart.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from gatekeeper.core.modes import Mode
from gatekeeper.observe._recorder import HOLD_BUCKETS, HoldOutcome

__all__ = ["OtelRecorder"]

_SCOPE = "gatekeeper"


class OtelRecorder:
    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
        self.held = meter.create_up_down_counter(
            "gatekeeper.requests.held", unit="{request}", description="Requests held now."
        )
        self.duration = meter.create_histogram(
            "gatekeeper.hold.duration", unit="s",
            description="How long held requests waited, whatever the outcome.",
            explicit_bucket_boundaries_advisory=HOLD_BUCKETS,
        )  # fmt: skip
        self.outcomes = meter.create_counter(
            "gatekeeper.hold.outcomes", unit="{request}",
            description="Requests the gate meant to hold, by outcome.",
        )  # fmt: skip
        self.rejections = meter.create_counter(
            "gatekeeper.requests.rejected", unit="{request}",
            description="503 answers of the gate, by reason.",
        )  # fmt: skip
        self.handoffs = meter.create_counter(
            "gatekeeper.requests.handed_off", unit="{request}",
            description="Requests redirected to the new release.",
        )  # fmt: skip
        self.keepalive_closes = meter.create_counter(
            "gatekeeper.keepalive.closes", unit="{response}",
            description="Responses that closed their connection while keep-alive was off.",
        )  # fmt: skip
        meter.create_observable_gauge(
            "gatekeeper.state", [self._observe_state], unit="1",
            description="1 for the state the gate obeys (an attribute per state).",
        )  # fmt: skip
        meter.create_observable_gauge(
            "gatekeeper.redis.connected", [self._observe_connected], unit="1",
            description="1 while the watcher hears Redis, else 0.",
        )  # fmt: skip
        meter.create_observable_gauge(
            "gatekeeper.state.age", [self._observe_age], unit="s",
            description="Seconds since Redis last confirmed the state.",
        )  # fmt: skip
        self._mode = ""
        self._up = False
        self._confirmed: float | None = None

    def hold_began(self) -> None:
        self.held.add(1)

    def hold_ended(self, outcome: HoldOutcome, seconds: float) -> None:
        self.held.add(-1)
        attributes = {"gatekeeper.outcome": outcome}
        self.duration.record(seconds, attributes)
        self.outcomes.add(1, attributes)
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(
                "gatekeeper.held",
                {"gatekeeper.outcome": outcome, "gatekeeper.hold.duration_s": round(seconds, 6)},
            )

    def hold_refused(self) -> None:
        self.outcomes.add(1, {"gatekeeper.outcome": "capacity"})

    def rejected(self, reason: str) -> None:
        self.rejections.add(1, {"gatekeeper.reason": reason})

    def handed_off(self) -> None:
        self.handoffs.add(1)

    def keepalive_closed(self) -> None:
        self.keepalive_closes.add(1)

    def state(self, mode: str) -> None:
        self._mode = mode

    def connected(self, up: bool) -> None:
        self._up = up

    def confirmed(self, at: float) -> None:
        self._confirmed = at

    def tick(self, now: float, inflight: int) -> None:
        pass  # the gauges are observed when the SDK collects, exact at that moment

    def _observe_state(self, _options: CallbackOptions) -> Iterable[Observation]:
        if not self._mode:
            return []
        return [
            Observation(1 if mode.value == self._mode else 0, {"gatekeeper.state": mode.value})
            for mode in Mode
        ]

    def _observe_connected(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1 if self._up else 0)]

    def _observe_age(self, _options: CallbackOptions) -> Iterable[Observation]:
        if self._confirmed is None:
            return []
        return [Observation(max(0.0, time.time() - self._confirmed))]
