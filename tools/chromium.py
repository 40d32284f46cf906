"""Debian's headless Chromium under Selenium, never reaching for the internet: what the registry
page's tests (tests/test_ui.py) and its screenshots (ui_screenshots.py) drive."""

from __future__ import annotations

import shutil

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
)
INSTALL = "apt-get install chromium chromium-driver"


def found() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


def driver(*extra: str, console: bool = False):
    """A headless Chromium (`extra` flags added); `console`: keep the page's console log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (*FLAGS, *extra):
        options.add_argument(flag)
    if console:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
