"""Settings of a Kimai connection, stored as JSON on the connection and validated here."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from apps.connectors.http import HttpTuning


class KimaiSettings(BaseModel):
    """How to write to one Kimai.

    ``create_missing_tags``: Kimai drops unknown tag names silently (kimai-api.md §6 "Tags"), so
    the connector creates them first; turn this off to refuse entries with unknown tags instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    page_size: int = Field(  # Kimai clamps size to 500 (§5)
        default=500,
        ge=1,
        le=500,
        title="Timesheets per request",
        description="How many timesheets to ask Kimai for at once (it sends 500 at most).",
    )
    create_missing_tags: bool = Field(
        default=True,
        title="Create tags Kimai does not know yet",
        description="Kimai silently drops tag names it does not know. On: the sync creates them "
        "first. Off: an entry with an unknown tag is refused and shown as a conflict.",
    )
    http: HttpTuning = Field(default_factory=HttpTuning)
