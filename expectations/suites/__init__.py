"""Expectation suites as code, one module per stage. Every expectation carries a severity in its
meta: ``critical`` blocks publishing, ``warning`` publishes and is flagged."""

from __future__ import annotations

from dataclasses import dataclass, field

CRITICAL = "critical"
WARNING = "warning"


@dataclass
class SuiteSpec:
    """A suite to run on one query: GX expectations, each with meta['severity']."""

    name: str  # e.g. landing.transactions
    table: str  # what it checks, for reports (schema.table)
    query: str  # the SELECT whose rows are validated
    expectations: list = field(default_factory=list)


def severity(level: str, **meta: object) -> dict[str, object]:
    return {"severity": level, **meta}
