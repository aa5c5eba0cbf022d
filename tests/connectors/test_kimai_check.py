"""The Kimai connection check: version, identity, what the token may do, in plain words."""

from __future__ import annotations

import httpx

from apps.connectors.kimai.connector import KimaiConnector
from tests.connectors.kimai_setup import USER_TOKEN, small_kimai


def test_it_reports_version_identity_time_zone_and_counts() -> None:
    kimai = small_kimai()
    kimai.double.add_tag("synced")

    report = kimai.connector().check()
    assert report.ok is True
    assert report.version == "2.66.0"
    assert report.identity == "sync-bot (sync-bot@example.com)"
    assert report.facts == {
        "time zone": "Europe/Berlin",
        "version id": "26600",
        "roles": "ROLE_ADMIN",
    }
    assert report.reference_counts == {"customers": 2, "projects": 2, "activities": 2, "tags": 1}


def test_it_asks_the_version_endpoint_and_the_callers_profile() -> None:
    kimai = small_kimai()
    kimai.connector().check()

    assert kimai.requests("GET", "/api/version")
    assert kimai.requests("GET", "/api/users/me")


def test_it_explains_a_token_that_can_only_book_its_own_time() -> None:
    report = small_kimai().connector(USER_TOKEN).check()

    assert report.ok is False
    assert report.problems == (
        "This Kimai token can only book its own time: give its user the Teamlead role (members "
        "of teams it leads) or the Admin role (everyone)",
    )
    assert "set billable" in [p.name for p in report.lacking]


def test_it_warns_an_admin_that_users_cannot_be_listed() -> None:
    report = small_kimai().connector().check()

    assert report.granted == (
        "book time for other users",
        "set billable",
        "see every user's timesheets",
        "correct exported timesheets",
    )
    [lacking] = report.lacking
    assert lacking.name == "list users"
    assert "Super-Admin role or grant view_user" in lacking.advice


def test_it_counts_users_for_a_super_admin() -> None:
    kimai = small_kimai()
    kimai.double.add_user("root", role="ROLE_SUPER_ADMIN", token="root-token")

    report = kimai.connector("root-token").check()
    assert report.lacking == ()
    assert report.reference_counts["users"] == 4


def test_it_explains_a_rejected_token() -> None:
    report = small_kimai().connector("expired").check()

    assert (report.ok, report.reachable, report.authenticated) == (False, True, False)
    assert report.problems[0].startswith("Kimai did not accept the token (HTTP 401 Unauthorized")


def test_it_explains_a_redirect_to_a_login_page() -> None:
    redirect = httpx.Response(302, headers={"Location": "/login"})
    connector = KimaiConnector(
        "https://kimai.example.com/", "t", transport=httpx.MockTransport(lambda r: redirect)
    )

    report = connector.check()
    assert report.problems == (
        "Kimai redirected GET /api/users/me to https://kimai.example.com/login: "
        "is the base URL right?",
    )


def test_its_report_is_ready_for_json() -> None:
    report = small_kimai().connector().check().as_dict()

    assert report["role"] == "target"
    assert report["permissions"][0] == {
        "name": "book time for other users",
        "granted": True,
        "advice": "",
    }
    assert report["requests_made"] == 7
