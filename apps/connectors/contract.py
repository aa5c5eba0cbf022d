"""The connector contract: everything a connector package may import, and nothing else.

A connector, built in or installed from PyPI, imports from this module only (and, in its tests,
from ``apps.connectors.testkit``). What is listed in ``__all__`` keeps its meaning within one
MAJOR of ``CONTRACT_VERSION``; a connector declares the version it was written for as its
``contract_version`` and the registry refuses one it cannot run (docs/CONNECTORS.md).

- **Base classes**: ``SourceConnector`` (time is read from it) and ``TargetConnector``
  (timesheets are written to it), both ``Connector``; ``Role``.
- **Capability flags**: ``Capability``, the ones a role may declare in ``ROLE_CAPABILITIES``.
- **The normalized entry**: ``TimeEntry`` and its parts (``TicketRef``, ``OrganizationRef``,
  ``AgentRef``, ``ActivityRef``, ``ProjectRef``); a target is asked to write a
  ``TimesheetDraft``; markers (``validate_marker``) identify an entry's timesheet.
- **Ticket facts** (1.1): ``Fact``, what rules may ask about a ticket the same way for every
  source, declared per source as ``facts`` and ``fact_labels``; ``TicketFacts``, handed over by
  ``SourceConnector.fetch_ticket_facts``. ``Capability.DELETIONS_SINCE`` with
  ``fetch_deleted_since`` (1.1): a source that keeps a trace of deletions.
- **Reference data**: what mappings choose from (``ReferenceData`` and its records).
- **The settings model**: one pydantic model per kind with ``http: HttpTuning``.
- **The check report**: ``CheckReport``, built with ``CheckReportDraft``; ``Permission``.
- **Outbound HTTP**: ``OutboundHttpClient`` (retries, ``Retry-After``, pooling, the concurrency
  limit), ``ExternalServiceError`` (``permanent``, ``uncertain``), ``VendorErrorDetails``,
  ``display_url``.
"""

from __future__ import annotations

from apps.connectors.base import (
    CONTRACT_VERSION,
    MARKER_PATTERN,
    ROLE_CAPABILITIES,
    Capability,
    CheckReport,
    CheckReportDraft,
    Connector,
    Permission,
    ReferenceActivity,
    ReferenceCustomer,
    ReferenceData,
    ReferenceGroup,
    ReferenceProject,
    ReferenceUser,
    Role,
    SourceConnector,
    TargetConnector,
    TimesheetDraft,
    contract_mismatch,
    validate_marker,
)
from apps.connectors.entry import (
    ActivityRef,
    AgentRef,
    OrganizationRef,
    ProjectRef,
    TicketRef,
    TimeEntry,
    unique_tags,
)
from apps.connectors.facts import ENTRY_FACTS, FACT_LABELS, Fact, TicketFacts
from apps.connectors.http import (
    ExternalServiceError,
    HttpTuning,
    OutboundHttpClient,
    ServiceResponse,
    VendorErrorDetails,
    display_url,
)

__all__ = [
    "CONTRACT_VERSION",
    "ENTRY_FACTS",
    "FACT_LABELS",
    "MARKER_PATTERN",
    "ROLE_CAPABILITIES",
    "ActivityRef",
    "AgentRef",
    "Capability",
    "CheckReport",
    "CheckReportDraft",
    "Connector",
    "ExternalServiceError",
    "Fact",
    "HttpTuning",
    "OrganizationRef",
    "OutboundHttpClient",
    "Permission",
    "ProjectRef",
    "ReferenceActivity",
    "ReferenceCustomer",
    "ReferenceData",
    "ReferenceGroup",
    "ReferenceProject",
    "ReferenceUser",
    "Role",
    "ServiceResponse",
    "SourceConnector",
    "TargetConnector",
    "TicketFacts",
    "TicketRef",
    "TimeEntry",
    "TimesheetDraft",
    "VendorErrorDetails",
    "contract_mismatch",
    "display_url",
    "unique_tags",
    "validate_marker",
]
