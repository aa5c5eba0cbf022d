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

    page_size: int = Field(default=500, ge=1, le=500)  # Kimai clamps size to 500 (§5)
    create_missing_tags: bool = True
    http: HttpTuning = Field(default_factory=HttpTuning)
