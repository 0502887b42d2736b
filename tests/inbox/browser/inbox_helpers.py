"""Helpers of the inbox tests: a page that records what it does, and a foreign origin."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Dialog, Page, Request

from pulse_async.testing import ServerThread


class ForeignSite:
    """An HTTP server on another loopback port (another origin) that counts its requests.

    ``pages`` maps a path to the HTML it serves (an attacker's page); any
    other request is counted and answered 204.
    """

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                if self.path in site.pages:
                    body = site.pages[self.path].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                site.hits.append(f"{self.command} {self.path}")
                self.send_response(204)
                self.end_headers()

            do_GET = do_POST = do_OPTIONS = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)


class InboxPage:
    """A Playwright page on a server's inbox that records requests, dialogs and console lines."""

    def __init__(self, page: Page, server: ServerThread, artifacts: Path) -> None:
        self.page = page
        self.server = server
        self.artifacts = artifacts
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.blocked: dict[str, str] = {}
        page.on("request", self._on_request)
        page.on("requestfailed", self._on_failed)
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)

    def _on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _on_failed(self, request: Request) -> None:
        self.blocked[request.url] = request.failure or ""

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(message.text)

    def open(self, path: str = "/") -> Page:
        """Go to ``path`` of the inbox and return the page."""
        self.page.goto(self.server.url + path)
        return self.page

    def foreign_requests(self) -> list[str]:
        """Requests that left the page for anything but the server (data: URLs aside).

        A request the browser refused before sending it (Content-Security-Policy)
        is reported by Playwright as a request that failed with ``"csp"``; it
        never left, and is not counted.
        """
        return [
            url
            for url in self.requests
            if not url.startswith((self.server.url + "/", "data:", "about:"))
            and self.blocked.get(url) != "csp"
        ]

    def give_key(self, key: str) -> None:
        """Answer the admin-key dialog, which must be open."""
        dialog = self.page.locator("#key-dialog")
        dialog.wait_for(state="visible")
        self.page.fill("#key-input", key)
        dialog.get_by_role("button", name="Use this key").click()

    def screenshot(self, name: str) -> Path:
        """Keep a full-page screenshot as a test artefact."""
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path
