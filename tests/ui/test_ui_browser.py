"""`reflexrl ui` in a real browser: Debian's headless Chromium, driven by selenium, follows
the memory table to a prompt and to an episode, checks the figures against the CLI's JSON,
searches for a hostile prompt and checks it is inert, loads the page served on the IPv6
loopback, checks that error replies carry a working content security policy, and saves a
screenshot of each page (into $REFLEXRL_SCREENSHOTS if set, else the test's temporary folder).

Needs `chromium` and `chromium-driver` (Debian's packages; `.ci/run` installs them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import HOSTILE
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def _cli(*argv: str) -> Any:
    """The CLI's JSON, from a process of its own (as a user would run it)."""
    done = subprocess.run(
        [sys.executable, "-m", "reflexrl", *argv], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@contextmanager
def _serving(ui_memory: Path, *argv: str) -> Iterator[str]:
    """`reflexrl ui ARGV` on a free port; the address it prints."""
    server = subprocess.Popen(
        [sys.executable, "-m", "reflexrl", "ui", "--memory", str(ui_memory), "--port", "0", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    try:
        line = server.stdout.readline()
        found = re.search(r"http://(127\.0\.0\.1|\[::1\]):\d+/", line)
        assert found, f"no address in {line!r} ({server.stderr.read() if not line else ''})"
        yield found[0]
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def served(ui_memory: Path) -> Iterator[str]:
    """`reflexrl ui` on a free loopback port; its address."""
    with _serving(ui_memory) as address:
        yield address


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    assert CHROMIUM and DRIVER, "needs Debian's chromium and chromium-driver (apt-get install)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1300,1500",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("REFLEXRL_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cells(browser: WebDriver, table: str) -> list[list[str]]:
    rows = browser.find_elements(By.CSS_SELECTOR, f"table#{table} > tbody > tr")
    return [[td.text for td in r.find_elements(By.CSS_SELECTOR, "td")] for r in rows]


def _summary(browser: WebDriver, table: str) -> dict[str, str]:
    rows = browser.find_elements(By.CSS_SELECTOR, f"table#{table} tr")
    return {
        r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text for r in rows
    }


def _number(text: str) -> float:
    return float(text.replace("+", ""))


def _navigate(browser: WebDriver, act: Callable[[], None]) -> None:
    """Do what leaves the page (a click, a form submitted), and wait for the next one."""
    old = browser.find_element(By.TAG_NAME, "html")
    act()
    WebDriverWait(browser, 30).until(staleness_of(old))
    WebDriverWait(browser, 30).until(
        lambda b: b.execute_script("return document.readyState") == "complete"
    )


def _click(browser: WebDriver, element: WebElement) -> None:
    _navigate(browser, element.click)


def test_table_prompt_episode_run_in_chromium(
    served: str, browser: WebDriver, ui_memory: Path, shots: Path
) -> None:
    rows = {r["prompt"]: r for r in _cli("memory", "show", "--memory", str(ui_memory), "--json")}
    browser.get(served)
    assert browser.title.startswith("reflexrl memory")
    shown = _cells(browser, "memory")
    assert len(shown) == len(rows)
    for cells in shown:
        row = rows[cells[2]]
        assert (_number(cells[4]), int(cells[5]), int(cells[6])) == (
            row["reward"],
            row["visits"],
            row["clarifications"],
        )
    browser.save_screenshot(str(shots / "1-memory-table.png"))

    # table -> the most visited paper prompt (the default sort: visits, highest first)
    link = browser.find_element(By.CSS_SELECTOR, "table#memory tbody a.prompt")
    prompt = link.text
    _click(browser, link)
    summary = _summary(browser, "row")
    assert _number(summary["reward"]) == rows[prompt]["reward"]
    assert int(summary["visits"]) == rows[prompt]["visits"]
    assert browser.find_element(By.ID, "prompt-text").text == prompt
    browser.save_screenshot(str(shots / "2-prompt.png"))

    # prompt -> the first episode that credited it
    _click(browser, browser.find_element(By.CSS_SELECTOR, "table#episodes a.episode"))
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Episode ")
    credited = [c[2] for c in _cells(browser, "steps")]
    assert prompt in credited
    blocks = browser.find_elements(By.CSS_SELECTOR, "details.memory-block pre")
    assert blocks and all(b.text.startswith("<reflexrl_memory>") for b in blocks)
    browser.save_screenshot(str(shots / "3-episode.png"))

    # episode -> its run: the figures of `report --format json`
    run_link = browser.find_element(By.CSS_SELECTOR, "table#episode a")
    run_id = run_link.text
    _click(browser, run_link)
    report = _cli("report", "--memory", str(ui_memory), "--run", run_id, "--format", "json")
    epochs = _cells(browser, "epochs")
    assert [(int(c[0]), float(c[2]), int(c[7]), int(c[8]), _number(c[9])) for c in epochs] == [
        (
            e["epoch"],
            round(e["success_rate"], 2),
            e["clarifications"],
            e["wrong_tools"],
            e["reward"],
        )
        for e in report["epochs"]
    ]
    figures = browser.find_elements(By.CSS_SELECTOR, "img.figure")
    assert len(figures) == 2
    assert all(browser.execute_script("return arguments[0].naturalWidth", f) > 0 for f in figures)
    browser.save_screenshot(str(shots / "4-run.png"))


def test_hostile_prompt_is_inert_in_chromium(served: str, browser: WebDriver, shots: Path) -> None:
    browser.get(served)
    search = browser.find_element(By.CSS_SELECTOR, "form.search input[type=search]")
    search.send_keys("<script>")
    _navigate(browser, search.submit)
    (cells,) = _cells(browser, "memory")
    assert cells[2] == HOSTILE.strip() or cells[2] == " ".join(HOSTILE.split())
    _click(browser, browser.find_element(By.CSS_SELECTOR, "table#memory tbody a.prompt"))
    assert browser.find_element(By.ID, "prompt-text").text == HOSTILE.strip()
    _click(browser, browser.find_element(By.CSS_SELECTOR, "table#episodes a.episode"))
    for _ in range(2):  # the episode page, then its run page
        assert "pwned" not in browser.title
        assert browser.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
        assert browser.find_elements(By.CSS_SELECTOR, "main b") == browser.find_elements(
            By.CSS_SELECTOR, "main b.action"
        )
        if browser.find_elements(By.ID, "steps"):
            assert _cells(browser, "steps")[0][3] == HOSTILE.strip()
            browser.save_screenshot(str(shots / "5-hostile-episode.png"))
            _click(browser, browser.find_element(By.CSS_SELECTOR, "table#episode a"))
    assert browser.find_element(By.CSS_SELECTOR, "table#run td").text == "paper"


def _no_ipv6_loopback() -> str | None:
    """Why this machine cannot serve on ::1, or None when it can."""
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        return f"no IPv6 loopback here (binding ::1: {exc.strerror})"
    return None


def test_the_page_on_the_ipv6_loopback_loads_in_chromium(
    ui_memory: Path, browser: WebDriver
) -> None:
    reason = _no_ipv6_loopback()
    if reason:
        pytest.skip(reason)
    with _serving(ui_memory, "--host", "::1") as address:
        assert address.startswith("http://[::1]:")
        browser.get(address)  # the browser sends Host: [::1]:PORT
        assert browser.title.startswith("reflexrl memory")
        assert len(_cells(browser, "memory")) == 31


INJECT = """const script = document.createElement("script");
script.textContent = "window.injected = true";
document.documentElement.appendChild(script);
return window.injected === true;"""
"""Add an inline script to the page; whether it ran (the policy forbids every script)."""


def test_error_replies_carry_a_working_csp_in_chromium(served: str, browser: WebDriver) -> None:
    browser.get("about:blank")
    assert browser.execute_script(INJECT) is True  # no policy: the injected script runs
    for path, says in [
        ("no/such/page", "Not Found"),  # Starlette's plain-text reply: only the header forbids
        ("episode/999999", "no episode 999999"),  # the page's own error page
    ]:
        browser.get(served + path)
        assert says in browser.find_element(By.TAG_NAME, "body").text
        assert browser.execute_script(INJECT) is False, path
