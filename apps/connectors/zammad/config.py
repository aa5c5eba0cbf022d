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

    time_unit: TimeUnit = "auto"
    custom_unit_minutes: Decimal | None = Field(default=None, gt=0, le=Decimal(24 * 60))
    # Rows committed out of order or while we paged (§5.7) are caught by looking this far back.
    change_overlap_seconds: int = Field(default=300, ge=0, le=7 * 24 * 3600)
    booked_at: Literal["created_at", "updated_at"] = "created_at"
    page_size: int = Field(default=1000, ge=1, le=1000)
    http: HttpTuning = Field(default_factory=HttpTuning)

    @model_validator(mode="after")
    def _custom_unit_needs_minutes(self) -> Self:
        if self.time_unit == "custom" and self.custom_unit_minutes is None:
            raise ValueError("a custom time unit needs custom_unit_minutes")
        return self
