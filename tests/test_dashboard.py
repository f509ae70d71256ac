"""The dashboard in a real browser: Debian's Chromium, driven through its chromedriver by
selenium, against a real `zerog-server` and real `zerog-worker` processes (on the embedded queue
and on beanstalkd). `make test` installs the browser as it installs beanstalkd; a missing one
fails the run.

Every test saves screenshots of what it checked (in target/screenshots/, or $ZEROG_SCREENSHOTS);
the README shows some of them.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_jobs import HOSTILE  # and registers the ui_ job classes in this process
from processes import WorkerProcess
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from server_helpers import Api
from waiting import wait_for, wait_status

from zeroG import config
from zeroG.jobs import make_base_job
from zeroG.mgmt import WorkerManager

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(os.environ.get("ZEROG_SCREENSHOTS", Path(__file__).parent.parent / "target" / "screenshots"))

StartWorker = Callable[..., WorkerProcess]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the module; each test starts from a blank tab."""
    assert os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), (
        "the dashboard tests need Debian's chromium and chromium-driver (make test installs them)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver) -> Iterator[WebDriver]:
    browser.get("about:blank")
    browser.get_log("browser")  # drop what earlier tests left
    browser.set_window_size(1280, 900)
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    yield browser
    if browser.current_url.startswith("http"):
        browser.execute_script("sessionStorage.clear()")


def shot(driver: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def find(driver: WebDriver, css: str, timeout: float = 20) -> WebElement:
    """The element once it exists (the pages draw after their first answer)."""

    def found() -> WebElement | None:
        try:
            return driver.find_element(By.CSS_SELECTOR, css)
        except NoSuchElementException:
            return None

    return wait_for(found, timeout=timeout)  # type: ignore[return-value]


def text_of(driver: WebDriver, css: str) -> str:
    try:
        return str(driver.find_element(By.CSS_SELECTOR, css).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def click(driver: WebDriver, css: str) -> None:
    """Clicks once the element exists; the pages redraw every few seconds, so a stale
    reference is looked up again."""

    def clicked() -> bool:
        try:
            driver.find_element(By.CSS_SELECTOR, css).click()
            return True
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    wait_for(clicked)


def accept_confirm(driver: WebDriver) -> str:
    """Accepts the confirmation the page asks for; returns its question."""

    def alert() -> Any:
        try:
            return driver.switch_to.alert
        except NoAlertPresentException:
            return None

    dialog: Any = wait_for(alert, timeout=10)
    question = str(dialog.text)
    dialog.accept()
    return question


def open_ui(driver: WebDriver, api: Api, fragment: str = "") -> None:
    driver.get(f"http://127.0.0.1:{api.port}/ui/{fragment}")


def start_ui_worker(start_worker: StartWorker, host: str = "host-ui") -> WorkerProcess:
    return start_worker("--module", "dashboard_jobs", "-c", "1", "--host-name", host)


def serve_ui(serve: Callable[..., Api], **kw: Any) -> Api:
    return serve("--module", "dashboard_jobs", **kw)


def test_every_page_loads_without_console_errors(
    db_url: str, serve: Callable[..., Api], start_worker: StartWorker, page: WebDriver
) -> None:
    api = serve_ui(serve)
    start_ui_worker(start_worker)
    done = make_base_job({"steps": 3, "pause": 0.05}, "ui_steps")
    done.enqueue()
    failed = make_base_job({}, "ui_fails")
    failed.enqueue()
    wait_status(done.uuid, "done", timeout=30)
    wait_status(failed.uuid, "failed", timeout=30)
    for name, fragment, ready in [
        ("overview", "#/", "#job-counts .count"),
        ("jobs", "#/jobs", "#job-list tbody tr td a"),
        ("job", f"#/job/{failed.uuid}", "#timeline li.entry"),
        ("queues", "#/queues", "#tubes tbody tr[data-tube]"),
        ("workers", "#/workers", "#hosts tr[data-worker]"),
    ]:
        open_ui(page, api, fragment)
        try:
            find(page, ready, timeout=5)
        except BaseException:
            print(name, page.get_log("browser"), page.find_element(By.ID, "notice").text)
            raise
        time.sleep(0.5)  # let the page's other requests answer too
        shot(page, f"dashboard-{name}")
        assert console_errors(page) == [], name
    # The overview counts what the store holds, and charts the two runs once they are 5 s old
    # (a job is stamped finished a moment before its document is written).
    open_ui(page, api, "#/")
    wait_for(lambda: "1\ndone" in text_of(page, "#job-counts") and "1\nfailed" in text_of(page, "#job-counts"))
    wait_for(lambda: len(page.find_elements(By.CSS_SELECTOR, "#throughput rect.part")) == 2, timeout=30)
    assert len(page.find_elements(By.CSS_SELECTOR, "#run-times rect.part")) >= 1
    shot(page, "dashboard-overview")
    # The jobs list filters by status.
    open_ui(page, api, "#/jobs/status=failed")
    wait_for(lambda: failed.uuid in text_of(page, "#job-list") and done.uuid not in text_of(page, "#job-list"))
    # Phone width, and dark mode when the system asks for it.
    page.set_window_size(390, 844)
    page.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    open_ui(page, api, f"#/job/{failed.uuid}")
    find(page, "#timeline li.entry")
    time.sleep(0.3)
    shot(page, "dashboard-job-phone-dark")
    width = page.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide at phone width: it should not scroll sideways"
    background = page.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(22, 23, 27)", background
    assert console_errors(page) == []


def test_a_running_jobs_progress_bar_advances_without_a_reload(
    db_url: str, serve: Callable[..., Api], start_worker: StartWorker, page: WebDriver
) -> None:
    api = serve_ui(serve)
    start_ui_worker(start_worker)
    job = make_base_job({"steps": 12, "pause": 0.4}, "ui_steps")
    job.enqueue()
    wait_status(job.uuid, "running", timeout=30)
    open_ui(page, api, f"#/job/{job.uuid}")
    find(page, "#job-progress [role=progressbar]")
    page.execute_script("window.__sameDocument = true")
    seen: list[int] = []

    def value() -> int:
        try:
            return int(
                page.find_element(By.CSS_SELECTOR, "#job-progress [role=progressbar]").get_attribute("aria-valuenow")
            )
        except (NoSuchElementException, StaleElementReferenceException, TypeError):
            return -1

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not seen or seen[-1] < 100):
        v = value()
        if v >= 0 and (not seen or v != seen[-1]):
            seen.append(v)
            if len(seen) == 3:
                shot(page, "dashboard-job-running")
        time.sleep(0.1)
    assert seen[-1] == 100, seen
    assert len(seen) >= 4 and seen == sorted(seen), f"the bar should move step by step: {seen}"
    assert page.execute_script("return window.__sameDocument") is True, "no reload"
    wait_for(lambda: "step 12 of 12" in text_of(page, "#timeline") and "done" in text_of(page, ".job-head"))
    assert console_errors(page) == []


def test_cancel_from_the_job_page_stops_a_running_job(
    db_url: str, serve: Callable[..., Api], start_worker: StartWorker, page: WebDriver
) -> None:
    api = serve_ui(serve)
    start_ui_worker(start_worker)
    job = make_base_job({"steps": 200, "pause": 0.2}, "ui_steps")
    job.enqueue()
    wait_status(job.uuid, "running", timeout=30)
    open_ui(page, api, f"#/job/{job.uuid}")
    click(page, "#cancel")
    assert accept_confirm(page) == f"Cancel job {job.uuid}?"
    doc = wait_status(job.uuid, "cancelled", timeout=30)
    assert doc["resultCode"] == 410 and doc["completeness"] < 1.0
    wait_for(lambda: "cancelled" in text_of(page, ".job-head"))
    # A cancelled job can be run again from the same page, once confirmed.
    click(page, "#run-again")
    assert accept_confirm(page) == f"Run job {job.uuid} again?"
    again = wait_status(job.uuid, "running", timeout=30)
    assert again["attempts"] == 2
    wait_for(lambda: "Run again by an operator" in text_of(page, "#timeline"))
    shot(page, "dashboard-job-run-again")
    assert console_errors(page) == []


def test_a_dismissed_confirmation_changes_nothing(
    db_url: str, serve: Callable[..., Api], start_worker: StartWorker, page: WebDriver
) -> None:
    api = serve_ui(serve)
    start_ui_worker(start_worker)
    job = make_base_job({"steps": 100, "pause": 0.2}, "ui_steps")
    job.enqueue()
    wait_status(job.uuid, "running", timeout=30)
    open_ui(page, api, f"#/job/{job.uuid}")
    click(page, "#cancel")
    wait_for(lambda: page.switch_to.alert, timeout=10).dismiss()  # type: ignore[union-attr]
    time.sleep(1.5)
    assert config.get_store().get(f"zerog_job_{job.uuid}")[0]["status"] == "running"  # type: ignore[index]


def test_drain_and_undrain_from_the_workers_page(
    db_url: str, serve: Callable[..., Api], start_worker: StartWorker, page: WebDriver
) -> None:
    api = serve_ui(serve)
    start_ui_worker(start_worker, "host-w")
    manager = WorkerManager(queue_url=config.queue_url())
    open_ui(page, api, "#/workers")
    row = 'section[data-host="host-w"] tr[data-worker]'
    wait_for(lambda: "activeIdle" in text_of(page, row))
    click(page, f'{row} button[data-action="drain"]')
    assert accept_confirm(page).startswith("Drain zerog+$host-w+$worker+$")
    wait_for(lambda: "drainingIdle" in text_of(page, row), timeout=30)
    assert wait_for(lambda: manager.refresh(1.0) and manager.host_is_drained("host-w"))
    shot(page, "dashboard-workers-drained")
    # The host's own buttons reach every worker on it.
    click(page, 'section[data-host="host-w"] h2 button[data-action="undrain"]')
    assert accept_confirm(page) == "Undrain every worker on host-w?"
    wait_for(lambda: "activeIdle" in text_of(page, row), timeout=30)
    assert wait_for(lambda: manager.refresh(1.0) and manager.states_by_host().get("host-w") == ["activeIdle"])
    assert console_errors(page) == []


def test_the_token_prompt_keeps_the_token_out_of_urls_and_refuses_a_wrong_one(
    db_url: str, serve: Callable[..., Api], page: WebDriver
) -> None:
    api = serve_ui(serve, env={"ZEROG_API_TOKEN": "s3cret-dashboard-token"}, token="s3cret-dashboard-token")
    open_ui(page, api, "#/")
    field = find(page, "#token")
    shot(page, "dashboard-token-prompt")
    field.send_keys("wrong-token")
    click(page, "#token-form button[type=submit]")
    wait_for(lambda: "The token was refused" in text_of(page, "#token-error"))
    assert page.execute_script("return sessionStorage.getItem('zerog-api-token')") is None, "a refused token is dropped"
    find(page, "#token").send_keys("s3cret-dashboard-token")
    click(page, "#token-form button[type=submit]")
    find(page, "#job-counts .count")
    assert "s3cret" not in page.current_url
    assert page.execute_script("return sessionStorage.getItem('zerog-api-token')") == "s3cret-dashboard-token"
    assert page.execute_script("return localStorage.length") == 0, "kept for this tab only"
    # The token's own 401s were expected; nothing else went wrong.
    errors = [e for e in console_errors(page) if "401" not in e["message"]]
    assert errors == []
    # Forgetting it brings the prompt back.
    click(page, "#forget-token")
    find(page, "#token")


def test_markup_in_a_jobs_log_is_shown_as_text_and_never_run(
    db_url: str, serve: Callable[..., Api], start_worker: StartWorker, page: WebDriver
) -> None:
    api = serve_ui(serve)
    start_ui_worker(start_worker)
    job = make_base_job({}, "ui_hostile")
    job.enqueue()
    wait_status(job.uuid, "failed", timeout=30)
    open_ui(page, api, f"#/job/{job.uuid}")
    # Its event, its warning and its error, and the worker's "Error - finished" (written in the
    # same microsecond as the error, so the two may show in either order).
    wait_for(lambda: len(page.find_elements(By.CSS_SELECTOR, "#timeline li.entry")) == 4)
    messages = [e.text for e in page.find_elements(By.CSS_SELECTOR, "#timeline .msg")]
    assert messages[:2] == [HOSTILE, HOSTILE]
    assert sorted(messages[2:]) == sorted([HOSTILE, "Error - finished"])
    assert page.find_elements(By.CSS_SELECTOR, "#timeline script, #timeline img") == []
    time.sleep(0.5)
    assert page.execute_script("return window.__pwned") is None
    shot(page, "dashboard-hostile-log")


def test_kick_and_peek_from_the_queues_page(db_url: str, serve: Callable[..., Api], page: WebDriver) -> None:
    api = serve_ui(serve)
    queue = config.get_queue()
    queue.put("ui-raw", b'"not-a-job"')
    reserved = queue.reserve(["ui-raw"], 1.0)
    assert reserved is not None
    queue.bury(reserved[0])
    open_ui(page, api, "#/queues")
    row = 'tr[data-tube="ui-raw"]'
    wait_for(lambda: text_of(page, row).split()[:5] == ["ui-raw", "0", "0", "0", "1"])
    click(page, f"{row} button.kick")
    assert accept_confirm(page) == "Kick 1 entry of ui-raw back to ready?"
    wait_for(lambda: text_of(page, row).split()[:5] == ["ui-raw", "1", "0", "0", "0"])
    click(page, f"{row} button.peek")
    wait_for(lambda: text_of(page, "#peeked-body") == '"not-a-job"')
    shot(page, "dashboard-queues-peek")
    assert console_errors(page) == []


def test_the_dashboard_is_served_with_a_content_security_policy(db_url: str, serve: Callable[..., Api]) -> None:
    api = serve_ui(serve)
    index = api.get("/ui/")
    assert index.status == 200 and index.headers["Content-Type"].startswith("text/html")
    csp = index.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert index.headers["X-Content-Type-Options"] == "nosniff"
    assert api.get("/ui/dashboard.js").headers["Content-Type"].startswith("text/javascript")
    assert api.get("/ui/../pyproject.toml").status == 404
    assert api.get(f"/ui/{urllib.parse.quote('../__init__.py', safe='')}").status == 404
    # Every file the page loads ships in the package: nothing comes from another host.
    for name in ("index.html", "dashboard.js", "api.js", "dom.js", "charts.js"):
        body = api.get(f"/ui/{name}").text
        assert "http://" not in body.replace("http://www.w3.org/2000/svg", "") and "https://" not in body, name
