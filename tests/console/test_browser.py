"""The console in a real browser (headless Chromium through Selenium): a platform team's
whole round, from signing in to the playground, with the page's CSP in force. Runs where
Debian's ``chromium`` and ``chromium-driver`` are installed (``.ci/chromium.sh`` installs
them; CI requires them, elsewhere the test skips), while test_console_js.py still drives the
same scripts without a DOM."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from conftest import LiveServer

from .conftest import ADMIN_KEY

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None, reason="chromium and chromedriver are not installed"
)
MODEL = "claude-haiku-4-5"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",  # nothing but the server under test is contacted
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1000",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    with tempfile.TemporaryDirectory(prefix="epistula-chromium-") as profile:
        options = webdriver.ChromeOptions()
        for arg in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):  # a fresh profile per run
            options.add_argument(arg)
        options.binary_location = CHROMIUM
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # a given driver: no download
        yield driver
        driver.quit()


class Page:
    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.d = driver
        self.base = base_url
        self.log: list[dict[str, Any]] = []

    def open(self, view: str) -> None:
        self.d.get(f"{self.base}/console/#/{view}")

    def wait(self, condition: Callable[[WebDriver], Any], timeout: float = 15) -> Any:
        # Views re-render whole sections, so an element found a moment ago may be gone: look again.
        return WebDriverWait(self.d, timeout, ignored_exceptions=[StaleElementReferenceException]).until(condition)

    def find(self, css: str) -> WebElement:
        element: WebElement = self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css))
        return element

    def all(self, css: str) -> list[WebElement]:
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        text: str = self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css).text or " ")
        return text

    def button(self, label: str, within: str = "main") -> WebElement:
        def found(d: WebDriver) -> WebElement | bool:
            buttons = [b for b in d.find_elements(By.CSS_SELECTOR, f"{within} button") if b.text == label]
            return buttons[0] if buttons and buttons[0].is_enabled() else False

        element: WebElement = self.wait(found)
        return element

    def storage(self) -> dict[str, str]:
        result: dict[str, str] = self.d.execute_script(
            "return Object.fromEntries(Object.keys(sessionStorage).map(k => [k, sessionStorage.getItem(k)]))"
        )
        return result

    def drain_log(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.d.get_log("browser")  # type: ignore[attr-defined]  # Chrome only
        self.log += entries
        return entries


def test_a_platform_teams_round_in_the_browser(browser: WebDriver, console_server: LiveServer) -> None:
    page = Page(browser, console_server.base_url)
    page.open("workspaces")

    # Sign in: a wrong key is refused, a workspace key is explained, the admin key kept in sessionStorage.
    page.find("input[name=admin_key]").send_keys("sk-wrong")
    page.button("Sign in").click()
    assert "authentication_error" in page.text(".alert")
    key_input = page.find("input[name=admin_key]")
    key_input.clear()
    key_input.send_keys(console_server.api_key)
    page.button("Sign in").click()
    page.wait(lambda d: "permission_error" in d.find_element(By.CSS_SELECTOR, ".alert").text)
    assert "Admin API key" in page.text(".alert")
    assert page.storage() == {}
    key_input = page.find("input[name=admin_key]")
    key_input.clear()
    key_input.send_keys(ADMIN_KEY)
    page.button("Sign in").click()
    page.find("main table")
    assert page.storage() == {"epistula.console.adminKey": ADMIN_KEY}
    assert ADMIN_KEY not in browser.current_url
    assert "Signed in: epistula" in page.text("#session")

    # Workspaces: create one; it is listed.
    page.find("main input[name=name]").send_keys("browser-team")
    page.button("Create workspace").click()
    page.wait(lambda d: "browser-team" in d.find_element(By.CSS_SELECTOR, "main table").text)
    assert "Created workspace" in page.text(".messages")

    # Keys: create one in that workspace; the secret is shown once and works.
    page.open("keys")
    page.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "select[name=workspace_id] option")) >= 2)
    select = page.find("select[name=workspace_id]")
    (option,) = [o for o in select.find_elements(By.TAG_NAME, "option") if o.text == "browser-team"]
    option.click()
    page.find("main input[name=name]").send_keys("browser-bot")
    page.button("Create key").click()
    secret = page.find(".secret-value").get_attribute("value")
    assert secret and secret.startswith("sk-epi-api01-")
    bot = console_server.client(api_key=secret)
    assert bot.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "#say:ok"}]).content
    first_row = "main tbody tr:first-child"  # newest first
    page.wait(lambda d: "browser-bot" in d.find_element(By.CSS_SELECTOR, first_row).text)
    assert all(word in page.text(first_row) for word in ("browser-team", "active"))
    page.button("Done").click()
    assert not page.all(".secret-value")

    # Disable: the key gets 401 at once; enable: it works again; rename.
    page.button("Disable", within="tbody tr:first-child").click()
    page.wait(lambda d: "inactive" in d.find_element(By.CSS_SELECTOR, "main tbody tr:first-child").text)
    with pytest.raises(anthropic.AuthenticationError):
        bot.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "#say:no"}])
    page.button("Enable", within="tbody tr:first-child").click()
    page.wait(lambda d: "Enable" not in d.find_element(By.CSS_SELECTOR, "main tbody tr:first-child").text)
    page.button("Rename", within="tbody tr:first-child").click()
    editor = page.find("tbody tr:first-child form input")
    editor.clear()
    editor.send_keys("browser-bot-2")
    page.button("Save", within="tbody tr:first-child").click()
    page.wait(lambda d: "browser-bot-2" in d.find_element(By.CSS_SELECTOR, "main tbody tr:first-child").text)

    # Playground: a streamed, two-turn conversation with the workspace key.
    page.open("playground")
    page.find("input[name=api_key]").send_keys(secret)
    model = page.find("input[name=model]")
    model.clear()
    model.send_keys(MODEL)
    for text in ("Hello from the browser.", "Second turn."):
        page.find("textarea[name=prompt]").send_keys(f"#say:{text}")
        page.button("Send").click()
        page.wait(lambda d: page.all(".bubble-assistant")[-1].text.endswith(text))  # noqa: B023 (waited on at once)
        page.wait(lambda d: "stop_reason: end_turn" in d.find_element(By.CSS_SELECTOR, "form.playground p").text)
    assert len(page.all(".bubble-assistant")) == 2
    assert page.storage() == {"epistula.console.adminKey": ADMIN_KEY}, "the workspace key was stored"

    # Usage and cost: a chart with bars and tables naming the new workspace.
    page.open("usage")
    page.find("svg.chart rect")
    page.wait(lambda d: "browser-team" in d.find_element(By.CSS_SELECTOR, "main").text)
    page.open("cost")
    page.find("svg.chart")
    page.wait(lambda d: "browser-team" in d.find_element(By.CSS_SELECTOR, "main").text)
    assert "$" in page.text("main .stats dd")

    # Live metrics: cards from /metrics.
    page.open("metrics")
    page.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".metric")) >= 6)
    assert "Active sequences" in page.text("main")

    # Sign out: the key leaves sessionStorage and the admin views ask for it again.
    page.button("Sign out", within="#session").click()
    page.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "#session button"))
    assert page.storage() == {}
    page.open("usage")
    page.find("input[name=admin_key]")

    page.drain_log()
    refused = [e["message"] for e in page.log if "Content Security Policy" in e["message"] or "Refused" in e["message"]]
    assert not refused, refused
    errors = [e["message"] for e in page.log if e["level"] == "SEVERE" and " 40" not in e["message"]]
    assert not errors, errors
