"""Rule conditions are chosen by name from checkbox lists with a search, never by raw id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from apps.connectors.models import Connection
from apps.gdpr.models import Person
from apps.mappings.models import MappingProfile, ReferenceSnapshot, Rule
from apps.mappings.reference import refresh_reference
from tests.doubles.base import Fault
from tests.support.servers import Served, served_doubles

HTMX = {"HX-Request": "true"}


@pytest.fixture
def served(db: None) -> Iterator[Served]:
    with served_doubles() as doubles:
        yield doubles


@pytest.fixture
def live_profile(served: Served) -> MappingProfile:
    zammad = Connection.objects.create(
        kind="zammad", name="Zammad", base_url=served.zammad_url,
        token=served.dataset.zammad_token, settings={"time_unit": "minute"},
    )  # fmt: skip
    kimai = Connection.objects.create(
        kind="kimai", name="Kimai", base_url=served.kimai_url, token=served.dataset.kimai_token
    )
    refresh_reference(kimai)
    refresh_reference(zammad)
    return MappingProfile.objects.create(source=zammad, target=kimai)


def _checkbox(name: str, value: str, label: str, checked: bool = False) -> str:
    ticked = " checked" if checked else ""
    return f'<input type="checkbox" name="{name}" value="{value}"{ticked}> {label}</label>'


@pytest.mark.django_db
def test_the_rule_form_offers_checkbox_lists_instead_of_multi_selects(
    admin_client: Client, live_profile: MappingProfile
) -> None:
    html = admin_client.get("/mappings/rules/new/", headers=HTMX).content.decode()
    assert "<select multiple" not in html
    assert _checkbox("organization_ids", "3", "Initech") in html
    assert _checkbox("activity_type_ids", "4", "Onsite") in html
    assert _checkbox("group_ids", "2", "2nd Level") in html  # listed by Zammad on refresh
    assert 'name="customer_ids"' not in html  # customers are searched, not listed
    assert "Type two letters or more of a name or e-mail address." in html


@pytest.mark.django_db
def test_refresh_lists_every_zammad_group_by_name(live_profile: MappingProfile) -> None:
    snapshot = ReferenceSnapshot.objects.get(connection=live_profile.source)
    assert [g["name"] for g in snapshot.groups] == ["2nd Level", "Billing", "Service Desk"]


@pytest.mark.django_db
def test_a_token_that_may_not_list_groups_keeps_the_groups_seen_on_tickets(
    live_profile: MappingProfile, served: Served
) -> None:
    snapshot = ReferenceSnapshot.objects.get(connection=live_profile.source)
    snapshot.groups = [{"id": "9", "name": "Seen on a ticket"}]
    snapshot.save()
    served.zammad.inject(
        Fault("error_before_commit", "GET", "/api/v1/groups", status=403, times=10)
    )
    refreshed = refresh_reference(live_profile.source)
    assert refreshed.last_error == ""
    assert refreshed.groups == [{"id": "9", "name": "Seen on a ticket"}]


@pytest.mark.django_db
def test_a_search_narrows_the_list_and_keeps_what_is_ticked_first(
    admin_client: Client, live_profile: MappingProfile
) -> None:
    html = admin_client.get(
        "/mappings/rules/choices/organizations/?q=glob&organization_ids=3", headers=HTMX
    ).content.decode()
    assert html.index(_checkbox("organization_ids", "3", "Initech", True)) < html.index(
        _checkbox("organization_ids", "2", "Globex Corporation")
    )
    assert "Awesome" not in html


@pytest.mark.django_db
def test_ticket_customers_are_found_by_name_in_zammad_and_the_rule_reads_their_name(
    admin_client: Client, live_profile: MappingProfile, served: Served
) -> None:
    found = admin_client.get(
        "/mappings/rules/choices/customers/?q=lumb", headers=HTMX
    ).content.decode()
    bill = "Bill Lumbergh (bill.lumbergh@initech.example)"
    assert _checkbox("customer_ids", "102", bill) in found
    assert served.zammad.requests_to("GET", "/api/v1/users/search")
    kimai = live_profile.target
    project = str(served.kimai.project_id("Retainer"))
    response = admin_client.post(
        f"/mappings/rules/new/?source={live_profile.source_id}&target={kimai.pk}",
        {"customer_ids": ["102"], "project_mode": "fixed", "project_id": project,
         "activity_id": str(served.kimai.activity_id("Retainer support", "Retainer")),
         "billable": "default"},
        headers=HTMX,
    )  # fmt: skip
    assert response.status_code == 200, response.content.decode()
    assert Rule.objects.get().customer_ids == ["102"]
    person = Person.objects.get(connection=live_profile.source, external_id="102")
    assert (person.kind, person.name) == ("customer", "Bill Lumbergh")
    page = admin_client.get("/mappings/").content.decode()
    assert "ticket customer is Bill Lumbergh" in page
    edit = admin_client.get(f"/mappings/rules/{Rule.objects.get().pk}/", headers=HTMX)
    assert _checkbox("customer_ids", "102", bill, True) in edit.content.decode()


@pytest.mark.django_db
def test_an_unknown_condition_is_a_404_and_strangers_are_sent_to_log_in(
    admin_client: Client, client: Client, live_profile: MappingProfile
) -> None:
    assert admin_client.get("/mappings/rules/choices/secrets/").status_code == 404
    response = client.get("/mappings/rules/choices/customers/?q=bill")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
