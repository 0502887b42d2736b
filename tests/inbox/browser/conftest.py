"""Fixtures of the inbox's browser tests: one real Chromium, a server per test.

The browser is Debian's ``chromium`` (``/usr/bin/chromium``, or ``$PULSE_CHROMIUM``),
driven by Playwright through ``executable_path``: Playwright's own browser
downloads are not needed. ``make test`` installs chromium when it is missing;
without it these tests fail with one line naming the package to install.

Screenshots of the main pages land in ``test-artifacts/inbox/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from inbox_helpers import ForeignSite, InboxPage
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

from pulse_async.testing import PulseServer, ServerThread

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "inbox"

# How long an expectation may wait for the page (it polls the server every second): a guard
# for a loaded machine, never a performance threshold.
expect.set_options(timeout=20_000)


def chromium_path() -> str:
    """The system Chromium, or a failure that says what to install."""
    wanted = os.environ.get("PULSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(wanted).exists():
        pytest.fail(
            "the inbox browser tests need Chromium: apt-get install chromium "
            "(or set PULSE_CHROMIUM to a Chromium binary)",
            pytrace=False,
        )
    return wanted


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """x"""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for every browser test (a fresh context per test)."""
    instance = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def server() -> Iterator[ServerThread]:
    """A local server on a frozen clock: messages move only when a test advances it."""
    handle = PulseServer(frozen_clock=True, seed=17).start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def foreign() -> Iterator[ForeignSite]:
    """Another origin on loopback that counts every request it gets (it must get none)."""
    site = ForeignSite()
    try:
        yield site
    finally:
        site.close()


@pytest.fixture
def inbox(browser: Browser, server: ServerThread) -> Iterator[InboxPage]:
    """A fresh browser context and page on ``server``'s inbox, recording its requests."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    handle = InboxPage(page, server, ARTIFACTS)
    try:
        yield handle
    finally:
        context.close()
