"""The events the API accepts, typed and checked by the landing contract's own columns.

Each kind is a contract table seen from the online side: its key, its core-banking identifiers
and its event time are replaced by the API's ``event_id``, the pseudonymous ``customer_id`` BI
sees, and ``occurred_at``; every other column keeps its contract type, required flag, allowed
values and range (``KINDS``). A change to the contract changes what the API accepts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model, field_validator

from portrait.ingest.contract import TABLES_BY_NAME, Column

MAX_EVENTS = 1000  # per request
ID = r"^[A-Za-z0-9_.:-]+$"  # event and customer ids
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
CLOCK_SKEW = timedelta(minutes=5)  # an event may not lie further in the future
# kind: (contract table, its columns the API replaces: key, identifiers, event time)
KINDS = {
    "transaction": ("transactions", ("txn_id", "account_id", "booked_at")),
    "digital_event": ("digital_events", ("event_id", "customer_id", "event_at")),
}
PYTHON_TYPES = {
    "text": str,
    "int": int,
    "decimal": Decimal,
    "date": date,
    "timestamp": AwareDatetime,
    "bool": bool,
}


def _field(column: Column):
    """A contract column as a pydantic field: its type or allowed values, range and description
    (text without NUL characters, numbers finite, as the landing rules require)."""
    kind = Literal[tuple(column.allowed)] if column.allowed else PYTHON_TYPES[column.type]
    rules: dict[str, object] = {"ge": column.minimum, "le": column.maximum}
    if column.type == "text" and not column.allowed:
        rules |= {"pattern": NO_NUL, "max_length": 1000}
    if column.type == "decimal":
        rules["allow_inf_nan"] = False
    constraint = Field(
        description=column.description, **{k: v for k, v in rules.items() if v is not None}
    )
    if column.required:
        return Annotated[kind, constraint], ...
    return Annotated[kind | None, constraint], None


class EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    event_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=ID,
        description="The client's id of the event: resending it is a no-op.",
    )
    customer_id: str = Field(
        min_length=1, max_length=64, pattern=ID, description="The pseudonymous customer id BI sees."
    )
    occurred_at: AwareDatetime = Field(description="When it happened, ISO 8601 with an offset.")

    @field_validator("occurred_at")
    @classmethod
    def _not_in_future(cls, value: datetime) -> datetime:
        if value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("must not lie in the future")
        return value


def _model(kind: str) -> type[BaseModel]:
    table_name, replaced = KINDS[kind]
    table = TABLES_BY_NAME[table_name]
    fields = {c.name: _field(c) for c in table.columns if c.name not in replaced}
    return create_model(
        f"{''.join(p.title() for p in kind.split('_'))}Event",
        __base__=EventBase,
        __doc__=f"{table.description} (landing table `{table_name}`).",
        kind=(Literal[kind], ...),
        **fields,
    )


EVENT_MODELS = {kind: _model(kind) for kind in KINDS}
Event = Annotated[Union[tuple(EVENT_MODELS.values())], Field(discriminator="kind")]  # noqa: UP007


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS)


class Accepted(BaseModel):
    accepted: list[str] = Field(description="Event ids newly committed to the outbox.")
    duplicates: list[str] = Field(description="Event ids already received: not applied again.")


def payload(event: BaseModel) -> dict[str, object]:
    """The event's own fields (what the worker applies), JSON-ready."""
    return event.model_dump(mode="json", exclude={"event_id", "customer_id", "occurred_at", "kind"})
