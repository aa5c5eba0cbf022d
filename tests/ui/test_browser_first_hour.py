"""The first hour of a new admin, in a real browser at 1366 and 390 px, against the doubles.

Log in; follow the setup checklist; connect Zammad (an address without scheme first) and Kimai
(a wrong token first), each error on screen; refresh and map; add rules by name; plan a sync and
see Confirm appear without a reload while a worker runs it; confirm; decide a conflict with a
quick fix on its page; switch the schedule on; read the webhook setup with PUBLIC_URL unset and
set. Every page is screenshotted into test-artifacts/, must not scroll sideways and must stay
under 6,000 px tall on a phone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.sync.engine import execute_run
from apps.sync.models import Conflict, Run
from tests.conftest import ARTIFACTS
from tests.doubles.dataset import demo_dataset
from tests.support.servers import Served, served_doubles

pytestmark = pytest.mark.browser
MAX_PHONE_HEIGHT = 6000


@pytest.fixture
def served(transactional_db: None) -> Iterator[Served]:
    with served_doubles(demo_dataset(weeks=1)) as doubles:
        yield doubles


class Walk:
    """The page, plus what every step checks: screenshot, width, height."""

    def __init__(self, page: Page, base: str, width: int) -> None:
        self.page, self.base, self.width = page, base, width
        self.heights: dict[str, int] = {}
        self.too_wide: list[str] = []

    def shot(self, name: str) -> None:
        self.page.wait_for_function(
            "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"first-hour-{self.width}-{len(self.heights) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        height = int(self.page.evaluate("document.documentElement.scrollHeight"))
        self.heights[name] = height
        if self.page.evaluate("document.documentElement.scrollWidth") > self.width:
            self.too_wide.append(name)

    def follow_run(self, run: Run) -> None:
        """What the worker does with the run the page is showing."""
        assert execute_run(run.pk) is not None

    def mark_page(self) -> None:
        """A flag a reload would lose: the next steps must happen on this very page."""
        self.page.evaluate("window.__stayed = true")

    def stayed(self) -> bool:
        return bool(self.page.evaluate("window.__stayed === true"))


def _connect(
    walk: Walk, kind: str, name: str, good_url: str, token: str, *, bad_url: str = "",
    bad_token: str = "",
) -> None:  # fmt: skip
    page = walk.page
    page.fill("#id_name", name)
    page.fill("#id_base_url", bad_url or good_url)
    page.fill("#id_token", bad_token or token)
    if kind == "zammad":
        page.select_option("#id_time_unit", "minute")
    page.click("text=Test connection")
    result = page.locator("#check-result")
    if bad_url:
        expect(result.locator(".status")).to_have_text("Not tested: fix this first")
        expect(result).to_contain_text("Address: Enter the address of the server, starting")
        walk.shot(f"{kind}-address-without-scheme")
        page.fill("#id_base_url", good_url)
    if bad_token:
        expect(result.locator(".status")).to_have_text("Token refused")
        expect(result).to_contain_text("did not accept the token")
        walk.shot(f"{kind}-token-refused")
        page.click("button:has-text('Save')")  # saving it anyway is refused, in words
        expect(page.locator(".callout.fail").first).to_contain_text("Nothing was saved")
        page.fill("#id_token", token)
    page.click("text=Test connection")
    expect(result.locator(".status")).to_contain_text("Connection works")
    walk.shot(f"{kind}-works")
    page.click("button:has-text('Save')")
    expect(page.locator(".messages")).to_contain_text(f"Added {name}")


def _next_step(walk: Walk, key: str) -> None:
    """From the dashboard, the checklist's highlighted step leads on."""
    page = walk.page
    page.goto(f"{walk.base}/")
    step = page.locator(f"#setup-{key}")
    expect(step).to_have_class("setup-step next")
    step.locator("a.button").click()


def _first_hour(walk: Walk, served: Served, settings: Any) -> None:
    page, dataset = walk.page, served.dataset
    page.goto(f"{walk.base}/")
    expect(page.locator("#setup .panel-head")).to_contain_text("0 of 8 done")
    expect(page.locator("#setup-schedule")).to_contain_text("Off: nothing syncs by itself")
    walk.shot("checklist")

    _next_step(walk, "zammad")
    bad_url = served.zammad_url.removeprefix("http://")
    _connect(walk, "zammad", "Support Zammad", served.zammad_url, dataset.zammad_token,
             bad_url=bad_url)  # fmt: skip
    _next_step(walk, "kimai")
    _connect(walk, "kimai", "Billing Kimai", served.kimai_url, dataset.kimai_token,
             bad_token="not-the-token")  # fmt: skip

    _next_step(walk, "refresh")
    page.click("text=Refresh from Zammad and Kimai")
    expect(page.locator(".messages")).to_contain_text("Refreshed.")
    page.goto(f"{walk.base}/mappings/activities/")
    onsite = next(t for t in dataset.activity_types if t.name == "Onsite")
    for row in (f"#type-{onsite.zammad_id}", "#type-none"):  # and entries without a type
        page.locator(f"{row} select").select_option(label="Support (global)")
        page.locator(f"{row} button").click()
        expect(page.locator(row)).to_contain_text("chosen by hand")
    walk.shot("activities")

    page.goto(f"{walk.base}/mappings/")
    page.click("#add-rule")
    form = page.locator("#rule-form-new")
    form.locator("#new-name").fill("Initech retainer")
    picker = form.locator("#new-organizations")
    picker.locator("input[type=search]").fill("init")
    expect(picker.locator(".picker-options label")).to_have_count(1)
    picker.get_by_label("Initech", exact=True).check()
    form.locator("#new-project").select_option(label="Retainer")
    form.locator("#new-activity").select_option(label="Retainer support (Initech / Retainer)")
    walk.shot("rule-form")
    form.locator("button[type=submit]").click()
    expect(page.locator("ol.rules")).to_contain_text("organization is Initech")
    page.click("#add-rule")
    form = page.locator("#rule-form-new")
    form.locator("#new-name").fill("Everything else")
    form.locator("#new-project").select_option(label="Internal Helpdesk")
    form.locator("button[type=submit]").click()
    expect(page.locator("li.rule")).to_have_count(2)
    walk.shot("rules")

    # The temp agent has no Kimai user yet: the checklist says so; a conflict will fix it.
    page.goto(f"{walk.base}/")
    expect(page.locator("#setup-map")).to_contain_text("have no Kimai user")
    expect(page.locator("#setup-rules")).to_have_attribute("data-done", "true")
    page.locator("#setup-plan a").first.click()
    today = timezone.localdate()
    page.fill("#id_start", f"{today - timedelta(days=9):%Y-%m-%d}")
    page.fill("#id_end", f"{today:%Y-%m-%d}")
    expect(page.locator("input[name=dry_run]")).to_be_checked()
    page.click("button:has-text('Sync now')")
    expect(page.locator("#progress .status")).to_contain_text("Queued: waiting for the worker")
    walk.mark_page()
    walk.follow_run(Run.objects.get(dry_run=True))
    confirm = page.locator("#confirm button")
    expect(confirm).to_be_visible()  # appeared while the page polled: no reload
    expect(page.locator("#hours-title")).to_have_text("Hours that would be written")
    assert walk.stayed()
    walk.shot("plan-finished")
    plan_url = page.url

    confirm.click()
    page.wait_for_url(lambda url: url != plan_url)
    real = Run.objects.get(dry_run=False)
    expect(page.locator("h1")).to_have_text(f"Run {real.pk}")
    walk.mark_page()
    walk.follow_run(real)
    expect(page.locator("#hours-title")).to_have_text("Hours written")
    assert walk.stayed()
    page.locator("#entries .kind-counts a", has_text="conflict").click()
    expect(page.locator("#entries tbody tr").first).to_contain_text("conflict")
    walk.shot("run-written")
    page.goto(plan_url)
    expect(page.locator("#confirmed")).to_contain_text(f"carried out by run {real.pk}")
    expect(page.locator("#confirm")).to_have_count(0)

    conflict = Conflict.objects.filter(kind=Conflict.Kind.UNMAPPED_USER).first()
    assert conflict is not None
    page.goto(f"{walk.base}/sync/conflicts/?kind=unmapped_user")
    walk.shot("conflicts")
    page.goto(f"{walk.base}/sync/conflicts/{conflict.pk}/")
    expect(page.locator("#conflict .status").first).to_have_text("Waiting for a decision")
    page.click("a.button:has-text('Map this agent')")
    expect(page.locator("#fix-user")).to_be_visible()
    options = page.locator("#fix-user option").all_inner_texts()
    page.select_option("#fix-user", label=next(o for o in options if o.lower().startswith("emma")))
    walk.mark_page()
    page.click("#quick-fix button[type=submit]")
    expect(page.locator("#conflict .status").first).to_have_text("Checking again…")
    expect(page.locator("#conflict")).to_contain_text("now books time as")
    walk.shot("conflict-checking")
    recheck = Run.objects.filter(status=Run.Status.QUEUED).order_by("created_at").first()
    assert recheck is not None
    walk.follow_run(recheck)  # the worker drains every run queued for the pair
    expect(page.locator("#conflict .status").first).to_have_text("Resolved")
    assert walk.stayed()
    walk.shot("conflict-fixed")

    # New pairs start with the schedule on or off (a setting of its own); either way, here.
    page.goto(f"{walk.base}/settings/#sync-settings")
    page.check("#id_schedule_enabled")
    page.click("#sync-settings button[type=submit]")
    expect(page.locator("#sync-settings .callout.ok")).to_have_text("Saved.")
    realtime = page.locator("#realtime")
    expect(realtime).to_contain_text("PUBLIC_URL is not set")
    expect(realtime).to_contain_text("is a loopback address")
    realtime.locator("details summary").click()
    expect(realtime).to_contain_text("it does not apply to this plain http address")
    walk.shot("webhook-without-public-url")
    settings.PUBLIC_URL = "https://sync.example.com"
    page.reload()
    realtime = page.locator("#realtime")
    expect(page.locator("#webhook-url")).to_have_text(
        "https://sync.example.com/api/v1/webhooks/zammad"
    )
    expect(page.locator("#webhook-warnings")).to_have_count(0)
    realtime.locator("details summary").click()
    expect(realtime).to_contain_text("SSL verification: on")
    walk.shot("webhook-with-public-url")

    page.goto(f"{walk.base}/")
    expect(page.locator("#setup")).to_have_count(0)  # every required step is done
    expect(page.locator("#chart")).to_contain_text("by the day the work was done")
    walk.shot("dashboard-done")


@pytest.mark.parametrize("width", [1366, 390])
def test_a_new_admin_gets_from_login_to_a_scheduled_sync_in_the_first_hour(
    logged_in_page: Page, live_server: LiveServer, served: Served, settings: Any, width: int
) -> None:
    settings.PUBLIC_URL = ""
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    walk = Walk(page, live_server.url, width)
    _first_hour(walk, served, settings)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"first-hour-{width}-heights.json").write_text(json.dumps(walk.heights, indent=1))
    assert walk.too_wide == []
    if width == 390:
        too_tall = {name: h for name, h in walk.heights.items() if h > MAX_PHONE_HEIGHT}
        assert too_tall == {}
