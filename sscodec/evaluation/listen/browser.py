"""A headless Chromium driven over the DevTools protocol on a pipe: load a page, run JavaScript,
collect console errors, take a screenshot. Standard library only (no websocket client, no
Selenium): Chromium's `--remote-debugging-pipe` reads commands on fd 3 and writes replies and
events on fd 4, each a JSON message ended by a NUL byte.

  with Browser() as browser:
      browser.open("file:///tmp/page/index.html")
      browser.evaluate("document.title")
      browser.screenshot("page.png")
      browser.errors            # console errors, uncaught exceptions, failed loads

Used by `sscodec listen --screenshot` and by tests/test_listen.py (Debian's `chromium`).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


class BrowserError(OSError):
    """Chromium is missing, died, or answered a command with an error."""


def find_chromium() -> str | None:
    """The path of a Chromium-like browser on PATH ($SSCODEC_CHROMIUM first), or None."""
    for name in (os.environ.get("SSCODEC_CHROMIUM"), *CANDIDATES):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with one page (tab), controlled over the DevTools pipe."""

    def __init__(self, width: int = 1200, height: int = 900, timeout: float = 60.0,
                 executable: str | None = None) -> None:
        executable = executable or find_chromium()
        if not executable:
            raise BrowserError("no Chromium found (apt-get install chromium, or set "
                               "SSCODEC_CHROMIUM to a Chromium-like browser)")
        self.timeout = timeout
        self.errors: list[str] = []
        self._profile = tempfile.mkdtemp(prefix="sscodec-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The child's ends move to fds 3 and 4: first put them where neither is 3 or 4.
        for fd in (to_browser_r, from_browser_w):
            high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            if fd == to_browser_r:
                to_browser_r = high
            else:
                from_browser_w = high
        args = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--mute-audio", "--autoplay-policy=no-user-gesture-required",
                "--allow-file-access-from-files", "--remote-debugging-pipe",
                f"--user-data-dir={self._profile}", f"--window-size={width},{height}",
                "about:blank"]

        # bash moves the pipe ends to fds 3 and 4 (no preexec_fn: this process has threads; not
        # sh: dash takes one-digit fds only).
        command = ["bash", "-c", f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w}', "bash",
                   *args]
        self._log = os.path.join(self._profile, "chromium.log")
        with open(self._log, "wb") as log:
            self._process = subprocess.Popen(command, pass_fds=(to_browser_r, from_browser_w),
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        try:
            targets = self.send("Target.getTargets")["targetInfos"]
            page = next(t for t in targets if t["type"] == "page")
            self._session = self.send("Target.attachToTarget", targetId=page["targetId"],
                                      flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.send(f"{domain}.enable", session=True)
            self.send("Emulation.setDeviceMetricsOverride", session=True, width=width,
                      height=height, deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ the protocol

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise BrowserError(f"Chromium closed the DevTools pipe (it died): {self._tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _note(self, event: dict) -> None:
        """Keeps the errors that a page should never show."""
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append("exception: " + str(details.get("exception", {}).get(
                "description", details.get("text"))))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log ({entry.get('source')}): {entry.get('text')} "
                               f"{entry.get('url', '')}".strip())
        self._events.append(event)

    def send(self, method: str, session: bool = False, **params) -> dict:
        """Sends one command (to the page's session when `session`) and returns its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise BrowserError(f"Chromium died: {self._tail()}") from None
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._note(reply)

    def _tail(self) -> str:
        """The end of Chromium's own log, less its harmless complaints about D-Bus."""
        try:
            with open(self._log, errors="replace") as f:
                lines = [line for line in f.read().splitlines() if "dbus" not in line]
        except OSError:
            return "no log"
        return " | ".join(lines[-8:]) or "no log"

    def wait_for(self, method: str) -> dict:
        """Waits for the page's next event `method` (events seen earlier are kept in order)."""
        deadline = time.monotonic() + self.timeout
        for i, event in enumerate(self._events):
            if event.get("method") == method:
                return self._events.pop(i)
        while True:
            event = self._read_message(deadline)
            self._note(event)
            if event.get("method") == method:
                self._events.remove(event)
                return event

    # ------------------------------------------------------------------ what tests use

    def open(self, url: str) -> None:
        """Navigates to `url` and waits for its load event."""
        self._events.clear()
        result = self.send("Page.navigate", session=True, url=url)
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send("Runtime.evaluate", session=True, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError("page script failed: " + str(details.get("exception", {}).get(
                "description", details.get("text"))))
        return result["result"].get("value")

    def screenshot(self, path: str, full_page: bool = False) -> str:
        """Writes a PNG of the viewport (or of the whole page) to `path`."""
        params: dict = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params |= {"captureBeyondViewport": True, "clip": {
                "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}
        data = self.send("Page.captureScreenshot", session=True, **params)["data"]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def screenshot_page(page: str, path: str, width: int = 1200, height: int = 1000,
                    colors: int = 0) -> str:
    """A PNG of the top of a page file (`width` x `height`), once its images have loaded;
    `colors` > 0 reduces it to that many colors (a fraction of the size, for documentation)."""
    with Browser(width, height) as browser:
        browser.open("file://" + os.path.abspath(page))
        browser.evaluate("Promise.all(Array.from(document.images).filter((i) => !i.complete)"
                         ".map((i) => new Promise((done) => { i.onload = i.onerror = done; })))")
        browser.screenshot(path)
    if colors:
        from PIL import Image
        with Image.open(path) as image:
            reduced = image.convert("RGB").quantize(colors)
        reduced.save(path, optimize=True)
    return path
