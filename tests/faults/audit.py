"""Reconcile what clients saw with what the app processed (the journal)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tools.openloop import Record


@dataclass
class Audit:
    sent: int = 0
    answered: int = 0
    """200 from the app."""
    rejected: int = 0
    """503 with Retry-After, without reaching the app."""
    lost: list[Record] = field(default_factory=list)
    """No response, a reset, a 5xx other than the gate's 503, a 4xx, a 503 without Retry-After."""
    processed_twice: list[str] = field(default_factory=list)
    rejected_but_processed: list[str] = field(default_factory=list)
    answered_not_processed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"sent {self.sent}, answered {self.answered}, 503 {self.rejected}, "
            f"lost {len(self.lost)}, twice {len(self.processed_twice)}"
        )

    def assert_clean(self) -> None:
        assert self.lost == [], self.lost[:5]
        assert self.processed_twice == []
        assert self.rejected_but_processed == []
        assert self.answered_not_processed == []


def journal_entries(journal: Path) -> list[tuple[str, int, float]]:
    """(request id, pid, time processed) for each line the app wrote."""
    if not journal.exists():
        return []
    entries = []
    for line in journal.read_text().splitlines():
        rid, pid, when = line.split()
        entries.append((rid, int(pid), float(when)))
    return entries


def audit(samples: list[Record], journal: Path) -> Audit:
    ours = {str(sample.request_id) for sample in samples}  # other traffic (warm-ups) is not audited
    seen = Counter(entry[0] for entry in journal_entries(journal) if entry[0] in ours)
    result = Audit(sent=len(samples))
    result.processed_twice = [rid for rid, count in seen.items() if count > 1]
    for sample in samples:
        rid = str(sample.request_id)
        if sample.status == 200:
            result.answered += 1
            if seen[rid] != 1:
                result.answered_not_processed.append(rid)
        elif sample.status == 503 and sample.tag:  # the Retry-After header
            result.rejected += 1
            if seen[rid]:
                result.rejected_but_processed.append(rid)
        else:
            result.lost.append(sample)
    return result
