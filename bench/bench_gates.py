"""Landing gate (GX) against the same checks written as plain SQL on the same tables, same run."""

from __future__ import annotations

from portrait.expectations.gates import run_gate
from portrait.expectations.suites import landing

from bench.common import Figure, interleaved_medians, one_batch_taken
from portrait import warehouse
from portrait.build import prepare_build
from portrait.config import Settings
from portrait.ingest.contract import TABLES
from portrait.publication import landing_gate_inputs


def plain_sql(batch_ids: list[str]) -> list[str]:
    """One query per check, the same checks the landing suites make."""
    batches = ", ".join(f"'{b}'" for b in batch_ids)
    queries = []
    for table in TABLES:
        rows = f"(select * from raw.{table.name} where batch_id in ({batches})) t"
        key = ", ".join(["batch_id", *table.key])
        queries.append(
            f"select count(*) from (select {key} from {rows} group by {key} having count(*) > 1) d"
        )
        queries.append(f"select count(*) from {rows}")
        for column in table.columns:
            if column.required:
                queries.append(f"select count(*) from {rows} where {column.name} is null")
            if column.allowed:
                values = ", ".join(f"'{v}'" for v in column.allowed)
                queries.append(f"select count(*) from {rows} where {column.name} not in ({values})")
            if column.minimum is not None or column.maximum is not None:
                low = column.minimum if column.minimum is not None else "-1e300"
                high = column.maximum if column.maximum is not None else "1e300"
                queries.append(
                    f"select count(*) from {rows} where {column.name} not between {low} and {high}"
                )
            if column.references:
                parent, key_col = column.references.split(".")
                queries.append(
                    f"select count(*) from {rows} where {column.name} is not null and {column.name} "
                    f"not in (select {key_col} from raw.{parent} where {key_col} is not null)"
                )
    return queries


def run(
    settings: Settings, customers: int = 10_000, months: int = 6, repeats: int = 3
) -> list[Figure]:
    one_batch_taken(settings, customers, months, "gates")
    prepare_build(settings)
    batches, recent, delivered = landing_gate_inputs(settings)
    specs = landing.suites(batches, recent, delivered)
    queries = plain_sql(batches)

    def gx_gate(_i: int) -> None:
        assert run_gate(
            "landing", specs, settings=settings, docs=False
        ).success  # checks only, no rendering

    def sql(_i: int) -> None:
        with warehouse.connect(warehouse.owner_url(settings)) as conn:
            for query in queries:
                conn.execute(query).fetchone()

    gx_gate(0)  # warm: imports, caches
    sql(0)
    (gate_s, gate_all), (sql_s, sql_all) = interleaved_medians(gx_gate, sql, repeats)
    detail = {
        "customers": customers,
        "months": months,
        "gx_checks": sum(len(s.expectations) for s in specs),
        "sql_queries": len(queries),
        "gate_seconds": gate_all,
        "sql_seconds": sql_all,
    }
    return [
        Figure(
            "landing gate (GX) / same checks as plain SQL", gate_s / sql_s, "ratio", "<= 2", detail
        )
    ]
