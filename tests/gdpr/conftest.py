from __future__ import annotations

import pytest

from apps.connectors.models import Connection
from apps.mappings.models import MappingProfile
from tests.sync.conftest import tx_world  # noqa: F401 (the sync tests' world)


@pytest.fixture
def profile(db: None) -> MappingProfile:
    zammad = Connection.objects.create(
        kind="zammad", name="Zammad", base_url="http://127.0.0.1:9", token="t"
    )
    kimai = Connection.objects.create(
        kind="kimai", name="Kimai", base_url="http://127.0.0.1:9", token="t"
    )
    return MappingProfile.objects.create(source=zammad, target=kimai)
