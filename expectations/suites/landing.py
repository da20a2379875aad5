"""Landing gate: each raw table of the batches being built, checked against the contract.

Ingest already quarantines bad rows one by one; this gate is the table-level view: schema, keys,
volume against recent batches, references, and the share of rows that were quarantined.
"""

from __future__ import annotations

import great_expectations as gx
from portrait.expectations.suites import CRITICAL, WARNING, SuiteSpec, severity

from portrait.ingest.contract import LINEAGE_COLUMNS, TABLES, Table


def _quoted(batch_ids: list[str]) -> str:
    return ", ".join("'" + b.replace("'", "''") + "'" for b in batch_ids)


def table_suite(table: Table, batch_ids: list[str], recent_counts: list[int]) -> SuiteSpec:
    """``recent_counts``: row counts of this table in earlier batches (for the volume check)."""
    batches = _quoted(batch_ids)
    spec = SuiteSpec(
        name=f"landing.{table.name}",
        table=f"raw.{table.name}",
        query=f"select * from raw.{table.name} where batch_id in ({batches})",
    )
    e = gx.expectations
    columns = [c.name for c in table.columns] + [name for name, _, _ in LINEAGE_COLUMNS]
    spec.expectations.append(
        e.ExpectTableColumnsToMatchSet(
            column_set=columns, exact_match=True, meta=severity(CRITICAL, rule="schema")
        )
    )
    # keys are unique within each batch (full snapshots of a table repeat them across batches);
    # grouped in the database so only duplicates come back (GX's compound-uniqueness query ran
    # the disk full with sort files at 50M transactions)
    key = ", ".join(["batch_id", *table.key])
    spec.expectations.append(
        e.UnexpectedRowsExpectation(
            description=f"({', '.join(table.key)}) is unique within each batch",
            unexpected_rows_query=f"select {key}, count(*) as copies from {{batch}} group by {key} having count(*) > 1",
            meta=severity(CRITICAL, rule="key", column=",".join(table.key)),
        )
    )
    for column in table.columns:
        if column.required:
            spec.expectations.append(
                e.ExpectColumnValuesToNotBeNull(
                    column=column.name, meta=severity(CRITICAL, rule="required")
                )
            )
        if column.allowed:
            spec.expectations.append(
                e.ExpectColumnValuesToBeInSet(
                    column=column.name,
                    value_set=list(column.allowed),
                    meta=severity(CRITICAL, rule="allowed values"),
                )
            )
        if column.minimum is not None or column.maximum is not None:
            spec.expectations.append(
                e.ExpectColumnValuesToBeBetween(
                    column=column.name,
                    min_value=column.minimum,
                    max_value=column.maximum,
                    meta=severity(CRITICAL, rule="range"),
                )
            )
        if column.references:
            parent, key = column.references.split(".")
            spec.expectations.append(
                e.UnexpectedRowsExpectation(
                    description=f"every {column.name} names a delivered {parent}.{key}",
                    # GX wraps {batch} as "(query) AS subselect": no alias of our own, hence NOT IN
                    unexpected_rows_query=(
                        f"select {column.name} from {{batch}} where {column.name} is not null "
                        f"and {column.name} not in (select {key} from raw.{parent} where {key} is not null)"
                    ),
                    meta=severity(CRITICAL, rule="referential integrity", column=column.name),
                )
            )
    if recent_counts:
        typical = sorted(recent_counts)[len(recent_counts) // 2]
        spec.expectations.append(
            e.ExpectTableRowCountToBeBetween(
                min_value=int(typical * 0.5),
                max_value=int(typical * 2) + 10,
                meta=severity(
                    WARNING, rule="volume against the median of recent batches", median=typical
                ),
            )
        )
    else:
        spec.expectations.append(
            e.ExpectTableRowCountToBeBetween(
                min_value=1 if table.required else 0,
                meta=severity(CRITICAL if table.required else WARNING, rule="volume"),
            )
        )
    return spec


def quarantine_suite(batch_ids: list[str], max_share: float = 0.05) -> SuiteSpec:
    """Warn when a batch lost more than ``max_share`` of its rows to quarantine."""
    batches = _quoted(batch_ids)
    return SuiteSpec(
        name="landing.quarantine",
        table="dq.ingest_batches",
        query=f"select * from dq.ingest_batches where status = 'loaded' and batch_id in ({batches})",
        expectations=[
            gx.expectations.UnexpectedRowsExpectation(
                description=f"at most {max_share:.0%} of a batch's rows are quarantined",
                unexpected_rows_query=(
                    f"select batch_id from {{batch}} where rows_quarantined > "
                    f"{max_share} * (rows_loaded + rows_quarantined)"
                ),
                meta=severity(WARNING, rule="quarantine share"),
            )
        ],
    )


def freshness_suite(batch_ids: list[str], delivered: set[str], stale_days: int) -> SuiteSpec | None:
    """Refuse a batch whose newest dated fact (any column that cannot lie after the batch date)
    lies more than ``stale_days`` before its batch date: a delivery dated by the run instead of
    by its data would publish a portrait of empty windows."""
    dated = {
        t.name: [c.name for c in t.columns if c.not_after_batch]
        for t in TABLES
        if t.name in delivered
    }
    dated = {name: columns for name, columns in dated.items() if columns}
    if not dated:
        return None
    batches = _quoted(batch_ids)
    newest = " union all ".join(
        f"select batch_id, max(greatest({', '.join(columns)}))::date as newest_event_date "
        f"from raw.{name} where batch_id in ({batches}) group by batch_id"
        for name, columns in dated.items()
    )
    return SuiteSpec(
        name="landing.freshness",
        table="dq.ingest_batches",
        query=(
            f"select b.batch_id, b.batch_date, max(e.newest_event_date) as newest_event_date "
            f"from (select distinct batch_id, batch_date from dq.ingest_batches where status = 'loaded' "
            f"and batch_id in ({batches})) b join ({newest}) e using (batch_id) group by 1, 2"
        ),
        expectations=[
            gx.expectations.UnexpectedRowsExpectation(
                description=f"a batch's newest dated fact lies at most {stale_days} days before its batch date",
                unexpected_rows_query=f"select * from {{batch}} where newest_event_date < batch_date - {int(stale_days)}",
                meta=severity(
                    CRITICAL,
                    rule="batch date against the newest dated fact",
                    column="batch_date",
                    report_rows=True,
                ),
            )
        ],
    )


def suites(
    batch_ids: list[str],
    recent_counts: dict[str, list[int]],
    delivered: set[str],
    stale_days: int = 7,
) -> list[SuiteSpec]:
    out = [
        table_suite(t, batch_ids, recent_counts.get(t.name, []))
        for t in TABLES
        if t.name in delivered
    ]
    out.append(quarantine_suite(batch_ids))
    fresh = freshness_suite(batch_ids, delivered, stale_days)
    return [*out, fresh] if fresh else out
