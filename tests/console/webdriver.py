"""A minimal W3C WebDriver client (stdlib HTTP) for Debian's chromedriver and headless Chromium.

Enough to fill forms, click, read text and take screenshots, without a PyPI dependency.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.ports import free_port
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


class Browser:
    """chromedriver on a free port with one Chromium session and a fresh profile."""

    def __init__(self, chromium: str, driver: str) -> None:
        self.port = free_port()
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

    def run(self, script: str, *args: Any) -> Any:
        """A script's return value (`return ...;`), run in the page."""
        return self._s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def resize(self, width: int, height: int = 1000) -> None:
        """The window's size; the page's viewport follows (headless has no window chrome)."""
        self._s("POST", "/window/rect", {"width": width, "height": height})

    def allow_downloads(self, folder: Path) -> None:
        """Downloads go to `folder` (Chromium's DevTools command, through chromedriver)."""
        self._cdp("Browser.setDownloadBehavior", {"behavior": "allow",
                                                  "downloadPath": str(folder)})

    def attribute(self, css: str, name: str) -> str:
        return str(self._s("GET", f"/element/{self.find(css)}/attribute/{name}") or "")

    def press(self, css: str) -> None:
        """Click without waiting for another page (a download link, a summary)."""
        self._s("POST", f"/element/{self.find(css)}/click", {})

    def text(self, css: str = "body") -> str:
        return str(self._s("GET", f"/element/{self.find(css)}/text"))

    def content(self, css: str) -> str:
        """All the text of an element, also what is scrolled out of its box (`textContent`)."""
        return str(self.run("return document.querySelector(arguments[0]).textContent", css))

    def url(self) -> str:
        return str(self._s("GET", "/url"))

    def screenshot(self, path: Path) -> Path:
        """The whole page, not only the viewport: the layout below the fold shows too."""
        metrics = self._cdp("Page.getLayoutMetrics", {})
        content, view = metrics["cssContentSize"], metrics["cssLayoutViewport"]
        if content["height"] <= view["clientHeight"]:  # it all shows: the plain screenshot
            path.write_bytes(base64.b64decode(self._s("GET", "/screenshot")))
            return path
        width = max(content["width"], self.run("return window.innerWidth"))
        shot = self._cdp("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": content["height"], "scale": 1}})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def _cdp(self, command: str, params: dict[str, Any]) -> Any:
        """A Chromium DevTools command, through chromedriver."""
        return self._call("POST", f"/session/{self.session}/goog/cdp/execute",
                          {"cmd": command, "params": params})["value"]

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
