"""Verdict-only forms of GX expectations, for a gate's first pass (``gates._validate``).

GX's ``UnexpectedRowsExpectation`` resolves two metrics from its query: the rows and their count,
so the query (a GROUP BY over every transaction of the batch for the key check) runs twice even
when only the verdict is asked for. The first pass needs the count alone; the second pass, for the
failures only, runs GX's own expectation for the details.
"""

from __future__ import annotations

import copy
from typing import ClassVar

from great_expectations.expectations.core.unexpected_rows_expectation import (
    UnexpectedRowsExpectation,
)


class ExpectNoUnexpectedRows(UnexpectedRowsExpectation):
    """``UnexpectedRowsExpectation``'s verdict from the count of its query's rows only."""

    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.row_count",)

    def _validate(
        self, metrics: dict, runtime_configuration: dict | None = None, execution_engine=None
    ) -> dict:
        count = metrics["unexpected_rows_query.row_count"]
        return {"success": count == 0, "result": {"observed_value": count}}


def verdict_only(expectation):
    """The cheaper equivalent of ``expectation`` for a verdict, or a copy of it."""
    if type(expectation) is UnexpectedRowsExpectation:
        return ExpectNoUnexpectedRows(
            **expectation.dict(include={"unexpected_rows_query", "description", "meta"})
        )
    return copy.copy(expectation)
