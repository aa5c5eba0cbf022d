"""Settings of a Zammad connection, stored as JSON on the connection and validated here."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from apps.connectors.http import HttpTuning

# Minutes per Zammad `time_accounting_unit` value (zammad-api.md §1.2). "custom" has no fixed
# length: its minutes come from the connection settings.
MINUTES_PER_UNIT: dict[str, Decimal] = {
    "minute": Decimal(1),
    "quarter": Decimal(15),
    "hour": Decimal(60),
}

TimeUnit = Literal["auto", "minute", "quarter", "hour", "custom"]


class ZammadSettings(BaseModel):
    """How to read one Zammad.

    ``time_unit``: what one Zammad time unit means. Zammad stores a bare number and never converts
    it; its ``time_accounting_unit`` setting is only a label (zammad-api.md §1.2). "auto" reads that
    setting (the token needs ``admin.time_accounting``); choose explicitly when it cannot, or when
    the label is empty or "custom".
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_unit: TimeUnit = Field(
        default="auto",
        title="One Zammad time unit is",
        description="Zammad stores booked time as a bare number. “As Zammad says” reads Zammad's "
        "time accounting unit setting (the token needs admin.time_accounting).",
        json_schema_extra={
            "choice_labels": {
                "auto": "as Zammad says (its time accounting unit setting)",
                "minute": "one minute",
                "quarter": "a quarter of an hour",
                "hour": "one hour",
                "custom": "a custom number of minutes (below)",
            }
        },
    )
    custom_unit_minutes: Decimal | None = Field(
        default=None,
        gt=0,
        le=Decimal(24 * 60),
        title="Minutes per unit",
        description="Only for a custom unit: how many minutes one Zammad unit stands for.",
    )
    # Rows committed out of order or while we paged (§5.7) are caught by looking this far back.
    change_overlap_seconds: int = Field(
        default=300,
        ge=0,
        le=7 * 24 * 3600,
        title="Look back for late entries (seconds)",
        description="Zammad may save entries out of order; each read of changes starts this many "
        "seconds before the previous one ended, so none is missed. 300 is safe.",
    )
    booked_at: Literal["created_at", "updated_at"] = Field(
        default="created_at",
        title="The moment of an entry",
        description="Zammad records one moment per entry; it decides the day and time in Kimai.",
        json_schema_extra={
            "choice_labels": {
                "created_at": "when the time was booked in Zammad",
                "updated_at": "when the entry was last edited",
            }
        },
    )
    page_size: int = Field(
        default=1000,
        ge=1,
        le=1000,
        title="Entries per request",
        description="How many time accountings to ask Zammad for at once (it sends 1,000 at most).",
    )
    http: HttpTuning = Field(default_factory=HttpTuning)

    @model_validator(mode="after")
    def _custom_unit_needs_minutes(self) -> Self:
        if self.time_unit == "custom" and self.custom_unit_minutes is None:
            raise ValueError("a custom time unit needs custom_unit_minutes")
        return self
