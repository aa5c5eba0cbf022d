"""The doubles' base lives in the connector test kit (apps/connectors/testkit/double.py), so a
connector package outside this repository can build its double on it; imported here as before."""

from __future__ import annotations

from apps.connectors.testkit.double import (
    Double,
    Fault,
    FaultKind,
    RecordedRequest,
    Reply,
    TimeoutAfterCommit,
)

__all__ = ["Double", "Fault", "FaultKind", "RecordedRequest", "Reply", "TimeoutAfterCommit"]
