"""The public connector contract and its test kit, as a plugin's own tests use them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from django.conf import settings
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


def test_a_connector_package_can_test_against_a_double_without_django(tmp_path: Path) -> None:
    script = tmp_path / "plugin_test.py"
    script.write_text(
        textwrap.dedent(
            """
            import httpx
            from apps.connectors.testkit import assert_follows_contract, connector_with_double
            from apps.connectors.testkit.double import Double, Reply
            from apps.connectors.zammad.connector import ZammadConnector

            class Tiny(Double):
                def route(self, request):
                    return Reply(200, {"id": 7, "path": request.path})

            double = Tiny()
            assert_follows_contract(ZammadConnector)
            connector = connector_with_double(
                ZammadConnector, "https://zammad.example", "t", double.transport()
            )
            print(connector.http.get("/api/v1/users/me").data, len(double.requests))
            """
        )
    )
    # The service installed (its checkout on the path), Django not set up.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(settings.BASE_DIR)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.stdout.splitlines()[-1] == "{'id': 7, 'path': '/api/v1/users/me'} 1", done.stderr
