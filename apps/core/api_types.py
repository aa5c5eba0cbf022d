"""Input types for API operations: values PostgreSQL can hold, refused with 422 otherwise.

Use them for every id, count and instant an operation accepts:

    def list_things(request, since: Instant | None = None, owner: Id | None = None): ...

and `Pagination` for paged lists (also the default of a bare `@paginate`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from django.conf import settings
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination
from pydantic import AfterValidator, AwareDatetime

# PostgreSQL's bigint, the type of our primary keys, LIMIT and OFFSET.
BIGINT_MAX = 2**63 - 1

Id = Annotated[int, Field(ge=1, le=BIGINT_MAX, description="A row id.")]
Offset = Annotated[int, Field(ge=0, le=BIGINT_MAX)]


def _storable_instant(value: datetime) -> datetime:
    """An instant in UTC; naive times are UTC. Offsets that leave years 1-9999 are refused."""
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError("the time is out of range (years 1 to 9999 in UTC)") from None


Instant = Annotated[datetime, AfterValidator(_storable_instant)]
# The same, for inputs that must say their offset.
AwareInstant = Annotated[AwareDatetime, AfterValidator(_storable_instant)]


class Pagination(LimitOffsetPagination):
    """Ninja's limit/offset pages, with both bounded so a huge number is a 422, not a 500."""

    class Input(Schema):
        limit: int = Field(
            settings.NINJA_PAGINATION_PER_PAGE, ge=1, le=settings.NINJA_PAGINATION_MAX_LIMIT
        )
        offset: Offset = 0
