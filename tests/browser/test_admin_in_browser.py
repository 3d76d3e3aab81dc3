"""The operator dashboard in a real browser: headless Debian Chromium via Selenium.

The browser and its driver come from Debian (`apt-get install chromium
chromium-driver`, done by .ci/run); nothing is downloaded at test time. The tests are
skipped, with the reason, where they are missing. Screenshots of the home and a team
page go to artifacts/screenshots/ for a human to look at.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs.models import CallStatus, Job, LLMCall
from jobs.services import job_complete, job_create
from teams.models import Team
from usage.services import usage_record

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = settings.BASE_DIR / "artifacts" / "screenshots"
PASSWORD = "browser-test-password"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1100",
]

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver "
        "(apt-get install chromium chromium-driver)",
    ),
]


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=Service(executable_path=str(CHROMEDRIVER))
    )
    driver.implicitly_wait(5)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def operator(live_server, browser, settings, organization) -> webdriver.Chrome:
    """The browser, logged in to the dashboard as a superuser."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_user_model().objects.create_superuser("operator", "op@example.com", PASSWORD)
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("operator")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert browser.find_element(By.ID, "user-tools")
    return browser


def api(live_server, method: str, path: str, key: str, **kwargs) -> requests.Response:
    return requests.request(
        method,
        f"{live_server.url}{path}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
        **kwargs,
    )


def wait_for_text(browser, text: str) -> None:
    """Wait until the page shows `text`; a click's navigation may still be under way,
    and the old page's elements go stale meanwhile. Times out (fails) after 10 s."""
    WebDriverWait(
        browser, 10, ignored_exceptions=[StaleElementReferenceException]
    ).until(lambda page: text in page.find_element(By.TAG_NAME, "body").text)


def run_action(browser, action: str) -> None:
    """Tick every row of the changelist on screen and run `action`."""
    for box in browser.find_elements(By.NAME, "_selected_action"):
        box.click()
    Select(browser.find_element(By.NAME, "action")).select_by_value(action)
    browser.find_element(By.NAME, "index").click()


def screenshot(browser, name: str) -> None:
    """The whole page, not just the window."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(height + 120, 4000))
    browser.save_screenshot(str(SCREENSHOTS / name))


def test_an_operator_creates_funds_rotates_and_suspends_a_team(
    live_server, operator, organization
):
    operator.get(f"{live_server.url}/admin/teams/team/add/")
    Select(operator.find_element(By.ID, "id_organization")).select_by_visible_text(
        str(organization)
    )
    operator.find_element(By.ID, "id_team_id").send_keys("browser-team")
    operator.find_element(By.ID, "id_team_alias").send_keys("Made in a browser")
    operator.find_element(By.NAME, "_save").click()

    wait_for_text(operator, "will not be shown again")
    key = operator.find_element(By.CSS_SELECTOR, "input.issued-key").get_attribute(
        "value"
    )
    copy = operator.find_element(By.CSS_SELECTOR, "button.copy-key")
    copy.click()
    # The label changes when the clipboard's promise settles, and back after 2 s.
    WebDriverWait(operator, 2).until(lambda _: copy.text == "Copied")
    assert api(live_server, "GET", "/api/teams/verify", key).status_code == 200

    operator.find_element(By.PARTIAL_LINK_TEXT, "I have stored the key").click()
    wait_for_text(operator, "0 remaining")
    operator.find_element(By.LINK_TEXT, "Add credits").click()
    operator.find_element(By.NAME, "credits").send_keys("250")
    operator.find_element(By.NAME, "reason").send_keys("browser test")
    operator.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for_text(operator, "250 remaining")
    screenshot(operator, "team-page.png")

    operator.find_element(By.LINK_TEXT, "Rotate or revoke keys").click()
    run_action(operator, "rotate_keys")
    new_key = operator.find_element(By.CSS_SELECTOR, "input.issued-key").get_attribute(
        "value"
    )
    assert new_key != key
    for usable in (key, new_key):  # the old key has its grace period
        assert api(live_server, "GET", "/api/teams/verify", usable).status_code == 200

    operator.get(f"{live_server.url}/admin/teams/team/?q=browser-team")
    run_action(operator, "suspend_teams")
    message = operator.find_element(By.CSS_SELECTOR, ".messagelist")
    assert "1 team(s) suspended" in message.text
    assert Team.objects.get(team_id="browser-team").status == "suspended"
    refused = api(
        live_server,
        "POST",
        "/api/jobs/create",
        new_key,
        json={"team_id": "browser-team", "job_type": "after-suspension"},
    )
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["code"] == "team_suspended"


def some_history(team: Team) -> None:
    """Jobs and calls spread over the last days and two aliases, recorded with
    their rollups, so the charts have a shape."""
    now = timezone.now()
    for days_ago, count in [(1, 2), (3, 5), (6, 1), (9, 4), (12, 3), (20, 6), (0, 2)]:
        for number in range(count):
            moment = now - timedelta(days=days_ago)
            job = job_create(team=team, job_type="chart-demo", user_id=f"user-{number}")
            Job.objects.filter(pk=job.pk).update(created_at=moment)
            call = LLMCall.objects.create(
                job=job,
                team=team,
                model_alias="demo" if number % 3 else "demo-large",
                status=CallStatus.FAILED if days_ago == 9 else CallStatus.SUCCEEDED,
                prompt_tokens=100 * count,
                completion_tokens=40 * count,
                provider_cost_usd=Decimal("0.0125") * count,
                client_cost_usd=Decimal("0.015") * count,
                created_at=moment,
            )
            usage_record(call=call)
            job_complete(team=team, job_id=str(job.job_id), status="completed")


def test_the_dashboard_home_shows_numbers_and_charts_with_the_admin_styles(
    live_server, operator, team
):
    some_history(team)
    operator.get(f"{live_server.url}/admin/")
    charts = operator.find_elements(By.CSS_SELECTOR, ".dashboard-charts svg.chart")
    assert len(charts) == 3
    assert all(chart.get_attribute("role") == "img" for chart in charts)
    wait_for_text(operator, "At a glance")
    # The admin's own stylesheet applied: the header has its coloured background.
    header = operator.find_element(By.ID, "header")
    assert header.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
    screenshot(operator, "dashboard-home.png")

    operator.get(f"{live_server.url}/admin/teams/team/{team.pk}/change/")
    wait_for_text(operator, "chart-demo")  # recent jobs
    assert len(operator.find_elements(By.CSS_SELECTOR, "svg.chart")) == 3
    screenshot(operator, "team-page-with-usage.png")


def test_spend_analytics_and_the_request_log_it_links_to(live_server, operator, team):
    some_history(team)
    operator.get(f"{live_server.url}/admin/usage/usagedaily/?preset=30d")
    wait_for_text(operator, "Top aliases")
    chart = operator.find_element(By.CSS_SELECTOR, "svg.chart.stacked")
    assert chart.find_elements(By.CSS_SELECTOR, "rect")
    screenshot(operator, "spend-analytics.png")
    aliases = operator.find_element(By.CSS_SELECTOR, ".analytics-top-alias")
    first_alias = aliases.find_element(By.CSS_SELECTOR, "tbody th").text
    aliases.find_element(By.LINK_TEXT, "requests").click()
    wait_for_text(operator, "Select LLM call")
    rows = operator.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert rows
    assert all(first_alias in row.text for row in rows)
    screenshot(operator, "request-log-filtered.png")


def result_rows(browser) -> list:
    return browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")


def wait_for_rows(browser, count: int, url_part: str) -> list:
    """The changelist after a filter's navigation: its URL has `url_part` and it
    lists `count` rows. Times out (fails) after 10 s."""
    try:
        WebDriverWait(
            browser, 10, ignored_exceptions=[StaleElementReferenceException]
        ).until(
            lambda page: (
                url_part in page.current_url and len(result_rows(page)) == count
            )
        )
    except TimeoutException:
        screenshot(browser, "request-log-timed-out.png")
        rows = len(result_rows(browser))
        raise AssertionError(
            f"wanted {count} rows at a URL with {url_part!r}; "
            f"{rows} at {browser.current_url}"
        ) from None
    return result_rows(browser)


def test_the_request_log_filters_and_searches_and_its_export_downloads(
    live_server, operator, team, other_team
):
    some_history(team)
    some_history(other_team)
    theirs = LLMCall.objects.filter(team=other_team)
    operator.get(f"{live_server.url}/admin/jobs/llmcall/")
    wait_for_text(operator, "Select LLM call")

    # A team, chosen with the autocomplete (the filter never lists every team).
    by_team = operator.find_element(
        By.CSS_SELECTOR, 'details[data-filter-title="team"]'
    )
    by_team.find_element(By.CSS_SELECTOR, ".select2-selection").click()
    operator.find_element(By.CSS_SELECTOR, ".select2-search__field").send_keys("glob")
    WebDriverWait(operator, 10).until(
        lambda page: [
            option
            for option in page.find_elements(
                By.CSS_SELECTOR, ".select2-results__option"
            )
            if option.text == "globex"
        ]
    )
    for option in operator.find_elements(By.CSS_SELECTOR, ".select2-results__option"):
        if option.text == "globex":
            option.click()
            break
    by_team.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    rows = wait_for_rows(operator, theirs.count(), f"team__id__exact={other_team.pk}")
    assert all("globex" in row.text for row in rows)

    # Then a range of days (12 to 9 days ago), then the failed calls in it.
    today = timezone.localdate()
    by_day = operator.find_element(
        By.CSS_SELECTOR, 'details[data-filter-title="created"] form'
    )
    for name, days_ago in (("created_from", 12), ("created_to", 9)):
        day = (today - timedelta(days=days_ago)).isoformat()
        field = by_day.find_element(By.NAME, name)
        operator.execute_script("arguments[0].value = arguments[1]", field, day)
    by_day.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    in_range = theirs.filter(
        created_at__date__gte=today - timedelta(days=12),
        created_at__date__lte=today - timedelta(days=9),
    )
    assert in_range.count() == 7  # 3 calls 12 days ago, 4 (failed) 9 days ago
    wait_for_rows(operator, 7, "created_to=")
    by_status = operator.find_element(
        By.CSS_SELECTOR, 'details[data-filter-title="status"]'
    )
    by_status.find_element(By.LINK_TEXT, "Failed").click()
    rows = wait_for_rows(operator, 4, "status__exact=failed")
    assert all("globex" in row.text and "Failed" in row.text for row in rows)
    assert f"team__id__exact={other_team.pk}" in operator.current_url
    screenshot(operator, "request-log-team-days-status.png")

    # Searched by a call id: that call alone.
    call = theirs.order_by("created_at").first()
    operator.get(f"{live_server.url}/admin/jobs/llmcall/")
    search = operator.find_element(By.ID, "searchbar")
    search.send_keys(str(call.call_id))
    search.submit()
    (row,) = wait_for_rows(operator, 1, f"q={call.call_id}")
    assert "globex" in row.text

    # The analytics page's download of the period's requests: a CSV file.
    downloads = Path(tempfile.mkdtemp(prefix="downloads-"))
    operator.execute_cdp_cmd(
        "Browser.setDownloadBehavior",
        {"behavior": "allow", "downloadPath": str(downloads)},
    )
    operator.get(f"{live_server.url}/admin/usage/usagedaily/?preset=30d")
    wait_for_text(operator, "Top aliases")
    operator.find_element(By.CSS_SELECTOR, 'a[href*="what=calls"]').click()
    WebDriverWait(operator, 10).until(
        lambda _: [
            path for path in downloads.glob("calls-*.csv") if path.stat().st_size
        ]
    )
    (downloaded,) = downloads.glob("calls-*.csv")
    lines = downloaded.read_text().splitlines()
    shutil.rmtree(downloads, ignore_errors=True)
    assert lines[0].split(",")[:3] == ["created_at", "call_id", "job_id"]
    assert len(lines) == 1 + LLMCall.objects.count()
    assert sum(str(call.call_id) in line for line in lines) == 1
