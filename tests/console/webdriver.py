"""A minimal W3C WebDriver client (stdlib HTTP) for Debian's chromedriver and headless Chromium.

Enough to fill forms, click, read text and take screenshots, without a PyPI dependency.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.waits import EVENT, START

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--window-size=1280,1000"]


class WebDriverError(RuntimeError):
    pass


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is not installed."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """chromedriver on a free port with one Chromium session and a fresh profile."""

    def __init__(self, chromium: str, driver: str) -> None:
        self.port = _free_port()
        self.profile = tempfile.mkdtemp(prefix="lps-chromium-")
        self.proc = subprocess.Popen([driver, f"--port={self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + START  # readiness wait, not a measured duration
        while True:
            try:
                if self._call("GET", "/status")["value"].get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise WebDriverError("chromedriver did not become ready")
            time.sleep(0.05)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium,
                                   "args": [*CHROME_ARGS, f"--user-data-dir={self.profile}"]},
        }}}
        try:
            self.session = self._call("POST", "/session", caps)["value"]["sessionId"]
        except BaseException:
            self.close()
            raise

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=START) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise WebDriverError(f"{method} {path}: {e.read().decode()[:500]}") from None

    def _s(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)["value"]

    def go(self, url: str) -> None:
        self._s("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        return str(self._s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT])

    def count(self, css: str) -> int:
        return len(self._s("POST", "/elements", {"using": "css selector", "value": css}))

    def type(self, css: str, text: str) -> None:
        eid = self.find(css)
        self._s("POST", f"/element/{eid}/clear", {})
        self._s("POST", f"/element/{eid}/value", {"text": text})

    def click(self, css: str) -> None:
        """Click, and when that loads another page, wait until it has loaded."""
        old = self.find("html")
        self._s("POST", f"/element/{self.find(css)}/click", {})
        deadline = time.monotonic() + EVENT  # a readiness wait, not a measured duration
        while time.monotonic() < deadline:
            try:
                same_page = self.find("html") == old
                ready = self._s("POST", "/execute/sync", {
                    "script": "return document.readyState", "args": []}) == "complete"
            except WebDriverError:
                same_page, ready = False, False  # between two documents
            if not same_page and ready:
                return
            if same_page and self._s("POST", "/execute/sync", {
                    "script": "return document.querySelector('form:invalid') !== null",
                    "args": []}):
                return  # the browser refused the form itself: no navigation comes
            time.sleep(0.02)
        raise WebDriverError(f"clicking {css} did not load a page")

    def text(self, css: str = "body") -> str:
        return str(self._s("GET", f"/element/{self.find(css)}/text"))

    def url(self) -> str:
        return str(self._s("GET", "/url"))

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self._s("GET", "/screenshot")))
        return path

    def delete_cookies(self) -> None:
        self._s("DELETE", "/cookie")

    def close(self) -> None:
        if getattr(self, "session", None):
            with contextlib.suppress(OSError, WebDriverError):
                self._s("DELETE", "")
        self.proc.terminate()
        try:
            self.proc.wait(EVENT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def required() -> bool:
    return os.environ.get("CI") == "true"
