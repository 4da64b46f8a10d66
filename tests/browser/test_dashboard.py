"""The metrics dashboard in headless Chromium (Debian's chromium and chromium-driver, through Selenium):
metrics runs as a real process on a free port, fed by events published to its topics; the page shows
every street, a new event changes a row without a reload, the district filter and the name search
work, a row opens the unit's trend. A screenshot is kept in tests/artifacts/."""

import time
import uuid
from pathlib import Path

import httpx
import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import BUSINESS_TZ, ContactKind, topics
from hotline.devkit import ServiceProcess
from hotline.gazetteer import UnitKind, beijing
from tests.integration.test_metrics_live import publish_events
from tests.unit.test_metrics_scenario import DONGHUAMEN, JINGSHAN, Script, at, scripted_month, write_scripted_policy

pytestmark = pytest.mark.stack

pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from tests.browser.chromium import start_chromium  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
PERIOD = "2026-03"
DONGCHENG = "110101"
GAZETTEER = beijing()
STREETS = sorted(code for code, u in GAZETTEER.units.items() if u.kind is UnitKind.STREET)
TOWNS = sorted(code for code, u in GAZETTEER.units.items()
               if u.kind in (UnitKind.TOWN, UnitKind.AREA, UnitKind.TOWNSHIP))


def every_street_and_town(tag: str) -> Script:
    """The scripted month, plus one March ticket for each of the 343 streets and towns, with
    scores that differ, so that every row of both tables is ranked."""
    s = scripted_month(tag)
    for i, code in enumerate(STREETS + TOWNS):
        if code in (JINGSHAN, DONGHUAMEN):
            continue
        name = f"B{i}"
        s.dispatch(name, code, at(1 + i % 27, 9), category=("noise", "sanitation", "roads_traffic")[i % 3],
                   district=GAZETTEER.units[code].district_code)
        if i % 4:
            s.contact(name, code, at(1 + i % 27, 10), ContactKind.FACE_TO_FACE if i % 3 else ContactKind.PHONE)
        if i % 5:
            s.callback(name, at(28, 9), resolved=bool(i % 7), satisfaction=("satisfied", "basically_satisfied",
                                                                           "dissatisfied")[i % 3])
    return s


@pytest.fixture(scope="module")
async def private(namespace):
    """A topic prefix and database of this module's own, so that the latest month is ours."""
    own = namespace.child("d")
    await own.create(topics.core_topics())
    yield own
    client = AsyncMongoClient(own.mongodb_url)
    await client.drop_database(own.database)
    await client.close()


@pytest.fixture(scope="module")
def tag() -> str:
    """What this run's ticket ids carry."""
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def metrics(private, tmp_path_factory):
    """`hotline serve metrics` as a process on a free port; stopped afterwards."""
    folder = tmp_path_factory.mktemp("metrics")
    log = folder / "metrics.log"
    # The unit's contact records move the score (a new contact, no callback yet, is the live update
    # below), and no minimum sample: every street and town has a ticket or a few, each is ranked.
    policy = write_scripted_policy(folder, minimum=0)
    env = private.env(METRICS_STREAM_POLL_S="0.2", METRICS_RANKING_POLICY=str(policy),
                      METRICS_RESPONSE_DEFINITION="contact")
    process = ServiceProcess.spawn("metrics", env, log).wait_healthy(60)
    try:
        yield process.url()
    finally:
        process.stop()


@pytest.fixture(scope="module")
async def fed(metrics, private, tag):
    """Every street and town has March figures, served by metrics."""
    await publish_events(private.kafka, private.prefix, every_street_and_town(tag).events)
    deadline = time.monotonic() + 45
    async with httpx.AsyncClient(base_url=metrics, timeout=5) as client:
        while True:
            streets = (await client.get("/v1/rankings", params={"period": PERIOD, "kind": "street"})).json()
            towns = (await client.get("/v1/rankings", params={"period": PERIOD, "kind": "town"})).json()
            jingshan = next((r for r in streets.get("rows", []) if r["unit_code"] == JINGSHAN), None)
            if (streets["count"] + len(streets["unranked"]) == len(STREETS)
                    and towns["count"] + len(towns["unranked"]) == len(TOWNS)
                    and jingshan and jingshan["dispatched"] == 5):
                return streets
            assert time.monotonic() < deadline, "metrics did not take in the events"
            await _sleep(0.3)


async def _sleep(s: float) -> None:
    import asyncio

    await asyncio.sleep(s)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's headless Chromium through chromedriver."""
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"), window="1500,1000")
    yield driver
    driver.quit()


def visible_codes(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#rows tr:not([hidden])')).map(tr => tr.dataset.code)")


def cell(driver, code: str, column: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'#rows tr[data-code="{code}"] td.{column}').text


def shoot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


async def test_the_dashboard_shows_every_street_and_updates_live(fed, metrics, browser, private, tag):
    driver = browser
    started = time.monotonic()
    driver.get(f"{metrics}/?period={PERIOD}")  # / redirects to /dashboard
    wait = WebDriverWait(driver, 15, poll_frequency=0.1)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == len(STREETS))
    assert driver.current_url.startswith(f"{metrics}/dashboard")
    rendered_s = time.monotonic() - started
    assert rendered_s < 10, f"{len(STREETS)} rows took {rendered_s:.1f} s"

    headers = driver.find_element(By.ID, "head").text
    for text in ("排名", "Rank", "综合得分", "Score", "响应率", "Response rate", "解决率", "Resolution rate",
                 "满意率", "Satisfaction rate", "见面率", "Face-to-face share"):
        assert text in headers
    first = driver.find_element(By.CSS_SELECTOR, "#rows tr")
    expected_top = fed["rows"][0]
    assert first.get_attribute("data-code") == expected_top["unit_code"]
    assert cell(driver, JINGSHAN, "name") == "景山街道"
    assert (cell(driver, JINGSHAN, "dispatched"), cell(driver, JINGSHAN, "score")) == ("5", "63.67")
    assert cell(driver, JINGSHAN, "move").startswith("▼")  # first in February, second in March
    assert cell(driver, DONGHUAMEN, "move").startswith("▲")
    assert cell(driver, JINGSHAN, "face_to_face_share") == "20.0%"
    wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "live")
    hot = driver.find_element(By.ID, "hot-city")
    wait.until(lambda d: len(hot.find_elements(By.TAG_NAME, "li")) >= 3)

    # A new ticket for Jingshan, contacted face to face in time: the row changes without a reload.
    driver.execute_script("window.__sameDocument = true")
    more = Script(tag)
    more.dispatch("J6", JINGSHAN, at(20, 9))
    more.contact("J6", JINGSHAN, at(20, 9, 30), ContactKind.FACE_TO_FACE)
    published = time.monotonic()
    await publish_events(private.kafka, private.prefix, more.events)
    WebDriverWait(driver, 20, poll_frequency=0.1).until(
        lambda d: cell(d, JINGSHAN, "dispatched") == "6" and cell(d, JINGSHAN, "score") != "63.67")
    print(f"live update reached the page {time.monotonic() - published:.2f} s after publishing")
    assert driver.execute_script("return window.__sameDocument === true"), "the page reloaded"
    # response 2/4 → 3/5 (one overdue), resolution 2/3, satisfaction 1.9/3: 10×.6 + 50×2/3 + 40×1.9/3 = 64.67
    assert cell(driver, JINGSHAN, "score") == "64.67"
    assert cell(driver, JINGSHAN, "response") == "60.0%"
    assert cell(driver, JINGSHAN, "face_to_face_share") == "33.3%"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#rows tr")) == len(STREETS)  # updated in place

    # The district filter: Dongcheng's streets only.
    Select(driver.find_element(By.ID, "district")).select_by_value(DONGCHENG)
    dongcheng = {c for c in STREETS if GAZETTEER.units[c].district_code == DONGCHENG}
    assert set(visible_codes(driver)) == dongcheng
    assert "district=110101" in driver.current_url
    shoot(driver, "dashboard-dongcheng.png")

    # The name search, across all districts.
    Select(driver.find_element(By.ID, "district")).select_by_value("")
    search = driver.find_element(By.ID, "search")
    search.send_keys("景山")
    assert visible_codes(driver) == [JINGSHAN]
    search.clear()
    search.send_keys("x")
    search.clear()
    driver.execute_script("document.getElementById('search').dispatchEvent(new Event('input'))")
    assert len(visible_codes(driver)) == len(STREETS)

    # A row opens the unit's panel: February and March on an inline SVG chart.
    driver.find_element(By.CSS_SELECTOR, f'#rows tr[data-code="{JINGSHAN}"] td.name').click()
    wait.until(lambda d: d.find_element(By.ID, "unit").is_displayed()
               and d.find_element(By.ID, "unit").get_attribute("data-code") == JINGSHAN
               and len(d.find_elements(By.CSS_SELECTOR, "#trend circle.point-score")) == 2)
    assert driver.find_element(By.ID, "unit-name").text == "景山街道"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#trend polyline.series-score")) == 1
    months = driver.find_element(By.ID, "unit-months").text
    assert "2026-03" in months and "2026-02" in months
    shoot(driver, "dashboard.png")


async def test_the_kind_tabs_switch_the_ranking(fed, metrics, browser):
    driver = browser
    driver.get(f"{metrics}/dashboard?period={PERIOD}")
    wait = WebDriverWait(driver, 15, poll_frequency=0.1)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == len(STREETS))
    driver.find_element(By.CSS_SELECTOR, '#kinds button[data-kind="town"]').click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == len(TOWNS))
    driver.find_element(By.CSS_SELECTOR, '#kinds button[data-kind="enterprise"]').click()
    wait.until(lambda d: [tr.get_attribute("data-code") for tr in d.find_elements(By.CSS_SELECTOR, "#rows tr")]
               == ["e-power", "e-water"])
    assert not driver.find_element(By.ID, "district").is_enabled()
    assert "kind=enterprise" in driver.current_url


async def test_the_dashboard_opens_on_the_last_settled_month(fed, metrics, browser, private, tag):
    """A ticket of this month makes it the latest, still provisional (it settles next month): the
    page opened without a month shows March, settled, and lists this month as provisional."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    current = now.astimezone(BUSINESS_TZ).strftime("%Y-%m")
    this_month = Script(tag)
    this_month.dispatch("N1", JINGSHAN, now)
    await publish_events(private.kafka, private.prefix, this_month.events)
    async with httpx.AsyncClient(base_url=metrics, timeout=5) as client:
        deadline = time.monotonic() + 30
        while (await client.get("/v1/rankings", params={"period": "settled"})).json().get("latest_period") != current:
            assert time.monotonic() < deadline, "metrics did not take in this month's ticket"
            await _sleep(0.3)
        march = (await client.get("/v1/rankings", params={"period": PERIOD})).json()
    march_jingshan = next(r for r in march["rows"] if r["unit_code"] == JINGSHAN)

    driver = browser
    driver.get(f"{metrics}/dashboard")
    wait = WebDriverWait(driver, 15, poll_frequency=0.1)
    wait.until(lambda d: d.find_element(By.ID, "settle").get_attribute("data-settled") == "true")
    assert driver.find_element(By.ID, "settle").text.startswith(f"已定 Settled {PERIOD}")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == len(STREETS))
    assert cell(driver, JINGSHAN, "dispatched") == str(march_jingshan["dispatched"])  # March's, not this month's 1
    options = [o.text for o in driver.find_elements(By.CSS_SELECTOR, "#period option")]
    assert f"{current} 暂定 provisional" in options and PERIOD in options
