"""The public connector contract and its test kit, as a plugin's own tests use them."""

from __future__ import annotations

import httpx
import pytest
from pydantic import BaseModel, ConfigDict

from apps.connectors import contract
from apps.connectors.kimai.connector import KimaiConnector
from apps.connectors.testkit import (
    assert_follows_contract,
    assert_installed,
    connector_with_double,
    contract_problems,
)
from apps.connectors.zammad.connector import ZammadConnector
from tests.connectors.plugins import FakeEnvironment, good_source


def test_the_contract_module_exports_what_it_lists() -> None:
    assert contract.CONTRACT_VERSION == "1.1"
    assert all(hasattr(contract, name) for name in contract.__all__)


@pytest.mark.parametrize("cls", [ZammadConnector, KimaiConnector])
def test_the_built_in_connectors_follow_the_contract(cls: type) -> None:
    assert_follows_contract(cls)


def test_the_test_kit_asks_for_a_label_on_every_setting() -> None:
    class Unlabelled(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        page_size: int = 10

    class Sloppy(ZammadConnector):
        settings_model = Unlabelled  # type: ignore[assignment]

    assert contract_problems(Sloppy) == [
        "the settings model needs `http: HttpTuning = HttpTuning()`",
        "the setting 'page_size' needs a title (its label) and a description",
    ]


def test_the_test_kit_says_why_an_installed_plugin_does_not_load(
    environment: FakeEnvironment,
) -> None:
    environment.install(
        "zks-connector-acme", "1.0", {"acme": "zks_acme3.connector:AcmeConnector"},
        zks_acme3__connector=good_source("Acme", "acme", version='"0.9"'),
    )  # fmt: skip

    with pytest.raises(LookupError, match="'acme' could not be loaded: was written for connector "
                       "contract 0.9"):  # fmt: skip
        assert_installed("acme")


def test_the_test_kit_builds_a_connector_that_retries_without_waiting() -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"id": 1})])
    seen: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return next(answers)

    connector = connector_with_double(
        ZammadConnector, "https://zammad.example", "t", httpx.MockTransport(reply)
    )
    assert connector.http.get("/api/v1/users/me").data == {"id": 1}
    assert seen == ["/api/v1/users/me", "/api/v1/users/me"]
