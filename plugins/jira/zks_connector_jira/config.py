"""Settings of a Jira connection, stored as JSON on the connection and validated here."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from apps.connectors.contract import HttpTuning

Deployment = Literal["cloud", "datacenter"]


class JiraSettings(BaseModel):
    """How to reach and read one Jira.

    Cloud signs in with the Atlassian account's e-mail and an API token (HTTP Basic, §2.1) and
    speaks REST v3; Data Center takes a personal access token as a Bearer token (§2.2) and speaks
    REST v2 only (§1.2). The token itself is the connection's encrypted token, never a setting.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    deployment: Deployment = Field(
        default="cloud",
        title="Jira runs on",
        description="Jira Cloud (…atlassian.net) or your own Jira Data Center / Server.",
        json_schema_extra={
            "choice_labels": {
                "cloud": "Jira Cloud: e-mail and API token",
                "datacenter": "Jira Data Center: personal access token",
            }
        },
    )
    email: str = Field(
        default="",
        max_length=254,
        title="Atlassian account e-mail",
        description="Jira Cloud only: the e-mail of the account the API token belongs to.",
    )
    # The feeds leave out the last minute (§3.1); this reaches back past commits that landed out
    # of order while we paged.
    change_overlap_seconds: int = Field(
        default=120,
        ge=0,
        le=7 * 24 * 3600,
        title="Look back for late worklogs (seconds)",
        description="Each read of changes starts this many seconds before the previous one "
        "ended, so worklogs saved out of order are not missed. 120 is safe.",
    )
    logged_ahead_days: int = Field(
        default=31,
        ge=0,
        le=3660,
        title="Worklogs logged ahead (days)",
        description="Jira cannot list worklogs by the day worked, only by when they were saved: "
        "a time window is read from this many days before its start, so work logged in "
        "advance is found too.",
    )
    http: HttpTuning = Field(default_factory=HttpTuning)

    @model_validator(mode="after")
    def _cloud_needs_email(self) -> Self:
        if self.deployment == "cloud" and "@" not in self.email:
            raise ValueError(
                "Jira Cloud needs the e-mail address of the account the API token belongs to"
            )
        return self
