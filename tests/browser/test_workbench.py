"""The workbench in headless Chromium (Debian's chromium and chromium-driver, through Selenium):
routing (returns wait for the centre's review) and followup run as real processes on free ports,
fed by tickets published on `tickets.received`. The centre clears a triage ticket to a street; the
street signs it, records a face-to-face visit with a demand collected on it and resolves it; the
street returns another ticket and the centre rejects the return (the ticket stays with the street);
the street cannot open a third street's ticket (the page shows the 403). Screenshots in
tests/artifacts/workbench-centre.png and workbench-unit.png."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import ClassCandidate, ClassifiedBy, Location, TicketReceived, ticket_id_for, topics
from hotline.contracts.raw import Caller, Channel
from hotline.devkit import ServiceProcess, free_port
from tests.integration.test_metrics_live import publish_events
from tests.support import WAIT_FACTOR, issue_token

pytestmark = pytest.mark.stack

pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from tests.browser.chromium import start_chromium  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHENGGUAN, BALIZHUANG, LIANGXIANG = "110111001", "110108005", "110111008"  # two streets, the area a ticket is in
WAIT_S = 30 * WAIT_FACTOR


@pytest.fixture(scope="module")
async def private(namespace):
    """A topic prefix and database of this module's own, with the queues the scenario uses."""
    own = namespace.child("w")
    await own.create(topics.core_topics() + topics.queue_topics(
        [topics.TRIAGE_QUEUE_CODE, CHENGGUAN, BALIZHUANG, LIANGXIANG, "110111", "110108"]))
    yield own
    client = AsyncMongoClient(own.mongodb_url)
    await client.drop_database(own.database)
    await client.close()


@pytest.fixture(scope="module")
def services(private, tmp_path_factory):
    """Routing and followup as processes; the page (served by followup) may call routing."""
    folder = tmp_path_factory.mktemp("workbench")
    followup_port, routing_port = free_port(), free_port()
    followup_url = f"http://127.0.0.1:{followup_port}"
    routing = ServiceProcess.spawn("routing", private.env(
        ROUTING_RETURN_REVIEW="true", HOTLINE_CORS_ORIGINS=followup_url), folder / "routing.log", port=routing_port)
    followup = ServiceProcess.spawn("followup", private.env(FOLLOWUP_ROUTING_URL=routing.url()),
                                    folder / "followup.log", port=followup_port)
    try:
        routing.wait_healthy(90)
        followup.wait_healthy(90)
        yield {"routing": routing.url(), "followup": followup.url()}
    finally:
        followup.stop()
        routing.stop()


def received(source_id: str, unit_code: str, district_code: str, content: str, **extra) -> TicketReceived:
    at = datetime.now(UTC) - timedelta(minutes=10)  # within the return window
    ticket_id = ticket_id_for("phone", source_id)
    return TicketReceived(event_id=f"r-{ticket_id}", ticket_id=ticket_id, occurred_at=at, channel=Channel.PHONE,
                          source_id=source_id, received_at=at, content=content, caller=Caller(phone="13800000000"),
                          location=Location(address=content[:10], district_code=district_code, unit_code=unit_code),
                          category="sanitation", **extra)


@pytest.fixture(scope="module")
async def world(services, private):
    """Three tickets held where the scenario needs them, and the tokens."""
    tag = uuid.uuid4().hex[:6]
    triage = received(f"wb-{tag}-1", LIANGXIANG, "110111", "我要投诉良乡地区不作为", needs_triage=True,
                      classified_by=ClassifiedBy.MODEL, first_level="城乡建设", confidence=0.41, candidates=[
                          ClassCandidate(first_level="城乡建设", confidence=0.41, category="sanitation"),
                          ClassCandidate(first_level="交通运输", confidence=0.33, category="roads_traffic")])
    returned = received(f"wb-{tag}-2", CHENGGUAN, "110111", "城关街道某小区垃圾三天没人清运")
    elsewhere = received(f"wb-{tag}-3", BALIZHUANG, "110108", "八里庄街道某小区垃圾没人清运")
    await publish_events(private.kafka, private.prefix, [triage, returned, elsewhere])
    tokens = {code: (await issue_token(private, code))["Authorization"].removeprefix("Bearer ")
              for code in ("centre", CHENGGUAN, BALIZHUANG)}
    expected = {triage.ticket_id: topics.TRIAGE_QUEUE_CODE, returned.ticket_id: CHENGGUAN,
                elsewhere.ticket_id: BALIZHUANG}
    deadline = time.monotonic() + WAIT_S
    async with httpx.AsyncClient(base_url=services["followup"], timeout=5,
                                 headers={"Authorization": f"Bearer {tokens['centre']}"}) as client:
        while True:
            holders = {t: (r.json().get("unit_code") if (r := await client.get(f"/v1/tickets/{t}")).status_code == 200
                           else None) for t in expected}
            if holders == expected:
                break
            assert time.monotonic() < deadline, f"the tickets were not dispatched: {holders}"
            await asyncio.sleep(0.3)
    return {"triage": triage.ticket_id, "returned": returned.ticket_id, "elsewhere": elsewhere.ticket_id,
            "tokens": tokens}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's headless Chromium through chromedriver."""
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"), window="1280,900")
    yield driver
    driver.quit()


def wait(driver, condition, timeout_s: float = WAIT_S, errors: bool = True):
    """Until `condition` holds; an error the page shows meanwhile fails at once (unless `errors` is
    False: one shown before is still there)."""
    def checked(d):
        notice = d.find_element(By.ID, "notice")
        if errors and notice.get_attribute("data-kind") == "error":
            raise AssertionError(f"the page shows an error: {notice.text}")
        return condition(d)
    return WebDriverWait(driver, timeout_s, poll_frequency=0.2).until(checked)


def log_in(driver, followup: str, token: str, staff: str = "") -> None:
    """Log in afresh: whoever is logged in in this tab logs out first (which clears the token)."""
    driver.get(f"{followup}/workbench")
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "login").is_displayed()
                                        or d.find_element(By.ID, "logout").is_displayed())
    if driver.find_element(By.ID, "logout").is_displayed():
        driver.find_element(By.ID, "logout").click()
        WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "login").is_displayed())
    assert driver.execute_script("return sessionStorage.getItem('hotline.workbench')") is None
    driver.find_element(By.ID, "token").send_keys(token)
    if staff:
        driver.find_element(By.ID, "staff").send_keys(staff)
    driver.find_element(By.ID, "login-submit").click()
    wait(driver, lambda d: "已登录" in d.find_element(By.ID, "notice").text)


def open_from(driver, rows: str, ticket_id: str, errors: bool = True) -> None:
    """Open a ticket from a list (refreshed until it is there)."""
    def listed(d):
        found = d.find_elements(By.CSS_SELECTOR, f'#{rows} tr[data-ticket="{ticket_id}"] button.open')
        if not found:
            d.find_element(By.ID, "refresh").click()
            time.sleep(0.5)
        return found
    wait(driver, listed, errors=errors)[0].click()
    shown(driver, ticket_id, errors)


def shown(driver, ticket_id: str, errors: bool = True):
    return wait(driver, lambda d: (p := d.find_element(By.ID, "ticket")).get_attribute("data-ticket") == ticket_id
                and p.get_attribute("data-state") == "shown" and p, errors=errors)


def action(driver, name: str):
    return wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f'#ticket-actions form[data-action="{name}"]'))


def submit(driver, form, button: str = "button[type=submit]") -> None:
    form.find_element(By.CSS_SELECTOR, button).click()


def on_timeline(driver, event_type: str) -> bool:
    return bool(driver.find_elements(By.CSS_SELECTOR, f'#ticket-timeline li[data-type="{event_type}"]'))


def shoot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def test_the_centre_clears_triage_and_the_street_handles_the_ticket(world, services, browser):
    driver, followup, ticket = browser, services["followup"], world["triage"]
    log_in(driver, followup, world["tokens"]["centre"])
    assert driver.find_element(By.ID, "who").text == "热线中心 Hotline centre"
    row = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f'#triage-rows tr[data-ticket="{ticket}"]'))
    assert "城乡建设 41%" in row.text and "交通运输 33%" in row.text  # the classifier's candidates
    open_from(driver, "triage-rows", ticket)
    assert "城乡建设 41%" in driver.find_element(By.ID, "ticket-candidates").text

    form = action(driver, "dispatch")
    reason = Select(form.find_element(By.NAME, "reason_code")).first_selected_option
    assert reason.get_attribute("value") == "triage_sorted"
    form.find_element(By.NAME, "lead_unit").send_keys(CHENGGUAN)
    form.find_element(By.NAME, "note").send_keys("属地问题，城关街道办理")
    submit(driver, form)
    wait(driver, lambda d: d.find_element(By.ID, "ticket").get_attribute("data-holder") == CHENGGUAN)
    assert on_timeline(driver, "TicketRedispatched")
    assert "已生效 applied" in driver.find_element(By.ID, "notice").text
    wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, f'#triage-rows tr[data-ticket="{ticket}"]'))

    # The same dispatch again: accepted (202), then refused by routing; the page says why, at once.
    form = action(driver, "dispatch")
    form.find_element(By.NAME, "lead_unit").send_keys(CHENGGUAN)
    submit(driver, form)
    refusal = wait(driver, lambda d: "refused (same_holder)" in (t := d.find_element(By.ID, "notice").text) and t,
                   errors=False)
    assert "已受理" not in refusal and driver.find_element(By.ID, "notice").get_attribute("data-kind") == "error"

    # The street: its worklist, then sign, a face-to-face visit with a demand, the resolution.
    log_in(driver, followup, world["tokens"][CHENGGUAN], staff="s-cg-01")
    assert CHENGGUAN in driver.find_element(By.ID, "who").text
    open_from(driver, "worklist-rows", ticket)
    submit(driver, action(driver, "sign"))
    wait(driver, lambda d: on_timeline(d, "TicketSigned") and not d.find_elements(
        By.CSS_SELECTOR, '#ticket-actions form[data-action="sign"]'))

    form = action(driver, "contact")
    assert Select(form.find_element(By.NAME, "kind")).first_selected_option.get_attribute("value") == "face_to_face"
    form.find_element(By.NAME, "place").send_keys("社区居委会")
    form.find_element(By.NAME, "met_with").send_keys("来电人")
    form.find_element(By.NAME, "notes").send_keys("入户了解情况")
    submit(driver, form)
    wait(driver, lambda d: on_timeline(d, "ContactRecorded"))

    form = action(driver, "demands")
    form.find_element(By.NAME, "demands").send_keys("居民希望增设垃圾分类投放点")
    submit(driver, form)
    wait(driver, lambda d: "new tickets: " in d.find_element(By.ID, "notice").text)

    form = action(driver, "resolve")
    form.find_element(By.NAME, "note").send_keys("已协调清运")
    submit(driver, form)
    wait(driver, lambda d: on_timeline(d, "TicketResolved"))
    assert "已办结 resolved" in driver.find_element(By.ID, "ticket-facts").text


def test_a_rejected_return_leaves_the_ticket_with_the_street(world, services, browser):
    driver, followup, ticket = browser, services["followup"], world["returned"]
    log_in(driver, followup, world["tokens"][CHENGGUAN], staff="s-cg-01")
    open_from(driver, "worklist-rows", ticket)
    form = action(driver, "return")
    Select(form.find_element(By.NAME, "reason_code")).select_by_value("belongs_to_unit")
    form.find_element(By.NAME, "suggested_unit").send_keys(BALIZHUANG)
    form.find_element(By.NAME, "note").send_keys("不属本街道")
    submit(driver, form)
    wait(driver, lambda d: on_timeline(d, "ReturnRequested"))
    assert "退单待审" in driver.find_element(By.ID, "ticket-facts").text

    # Another street's ticket: refused, and the page says so.
    driver.find_element(By.ID, "open-id").send_keys(world["elsewhere"])
    driver.find_element(By.CSS_SELECTOR, "#open-form button").click()
    error = WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "ticket-error"))
    assert "403" in error.text and "无权限 Forbidden" in error.text and "not assigned to this unit" in error.text
    assert driver.find_element(By.ID, "notice").get_attribute("data-kind") == "error"
    open_from(driver, "worklist-rows", ticket, errors=False)
    shoot(driver, "workbench-unit.png")

    # The centre rejects it: the street keeps the ticket.
    log_in(driver, followup, world["tokens"]["centre"])
    open_from(driver, "returns-rows", ticket)
    form = action(driver, "review")
    form.find_element(By.NAME, "note").send_keys("属本街道辖区，请继续办理")
    submit(driver, form, 'button[value="false"]')
    wait(driver, lambda d: on_timeline(d, "ReturnReviewed"))
    panel = driver.find_element(By.ID, "ticket")
    assert panel.get_attribute("data-holder") == CHENGGUAN and panel.get_attribute("data-attempt") == "1"
    assert not driver.find_elements(By.CSS_SELECTOR, '#ticket-actions form[data-action="review"]')
    wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, f'#returns-rows tr[data-ticket="{ticket}"]'))
    shoot(driver, "workbench-centre.png")
