"""Headless Chromium for the map page tests, driven over the DevTools protocol on a pipe.

Chromium (Debian's package; `make test` installs it) runs with `--remote-debugging-pipe`
(NUL-terminated JSON on file descriptors 3 and 4), so no websocket client is needed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
WIDTH, HEIGHT = 1440, 900
READY_SECONDS = 90  # software WebGL on two cores; it takes a few seconds in practice


def chromium_binary() -> str | None:
    for name in (os.environ.get("ONEMAP_CHROMIUM"), "chromium", "chromium-browser"):
        if name and (path := shutil.which(name)):
            return path
    return None


class Chromium:
    """Headless Chromium and a DevTools-protocol client on its debugging pipe."""

    FLAGS = (
        "--headless", "--no-sandbox", "--disable-gpu",
        # WebGL in software (SwiftShader), which MapLibre needs
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--disable-quic", "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
        # no name resolves but the loopback: nothing can leave the machine
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    )

    _TRAMPOLINE = ("import os, sys; r, w = map(int, sys.argv[1:3]); os.dup2(r, 3); "
                   "os.dup2(w, 4); os.close(r); os.close(w); os.execv(sys.argv[3], sys.argv[3:])")

    def __init__(self, binary: str, profile: Path, log: Path):
        # the browser reads commands on its fd 3 and writes answers on its fd 4; a small
        # Python puts the pipes there and becomes the browser (all pipe ends are above 9,
        # so moving one cannot clobber another)
        theirs_in, self._out = (self._high(fd) for fd in os.pipe())
        self._in, theirs_out = (self._high(fd) for fd in os.pipe())
        with open(log, "wb") as output:  # the browser's own messages, for a failure
            self.process = subprocess.Popen(
                [sys.executable, "-c", self._TRAMPOLINE, str(theirs_in), str(theirs_out),
                 binary, *self.FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                 "about:blank"],
                pass_fds=(theirs_in, theirs_out), stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT)
        os.close(theirs_in)
        os.close(theirs_out)
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._replies: dict[int, dict] = {}
        self._next = 0
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @staticmethod
    def _high(fd: int) -> int:
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return moved

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._in, 1 << 20):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" not in message:
                    self._on_event(message)
                with self._changed:
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _on_event(self, message: dict) -> None:
        # workers (MapLibre fetches tiles in them) wait for us: watch their network, then
        # let them run
        if message["method"] == "Target.attachedToTarget":
            session = message["params"]["sessionId"]
            self.post("Network.enable", session=session)
            self.post("Runtime.enable", session=session)
            self.post("Runtime.runIfWaitingForDebugger", session=session)

    def post(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        with self._lock:
            self._next += 1
            message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
            if session:
                message["sessionId"] = session
            os.write(self._out, json.dumps(message).encode() + b"\0")
            return self._next

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict:
        number = self.post(method, params, session)
        deadline = time.monotonic() + timeout
        with self._changed:
            while number not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise RuntimeError(f"Chromium did not answer {method}")
                self._changed.wait(left)
            reply = self._replies.pop(number)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def evaluate(self, expression: str, session: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def of(self, method: str) -> list[dict]:
        with self._changed:
            return [e["params"] for e in self.events if e["method"] == method]

    def close(self) -> None:
        try:
            self.post("Browser.close")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._out)
            self._reader.join(timeout=5)
            os.close(self._in)


def problems(browser: Chromium) -> list[str]:
    """Script errors and console errors (a blocked load shows there), for failure messages."""
    found = [json.dumps(e["exceptionDetails"])[:500] for e in browser.of("Runtime.exceptionThrown")]
    found += [" ".join(str(a.get("value", a.get("description", ""))) for a in e["args"])[:500]
              for e in browser.of("Runtime.consoleAPICalled") if e["type"] in ("error", "assert")]
    found += [e["entry"]["text"][:500] for e in browser.of("Log.entryAdded")
              if e["entry"]["level"] == "error"]
    return found


def open_page(browser: Chromium, url: str) -> str:
    """A tab of `url`, its workers watched, once the page says it is ready: its session."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget",
                           {"targetId": target, "flatten": True})["sessionId"]
    for method in ("Network.enable", "Runtime.enable", "Log.enable", "Page.enable"):
        browser.send(method, session=session)
    browser.send("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        session=session)
    browser.send("Target.setAutoAttach", {"autoAttach": True, "flatten": True,
                                          "waitForDebuggerOnStart": True}, session=session)
    browser.send("Page.navigate", {"url": url}, session=session)
    deadline = time.monotonic() + READY_SECONDS
    ready = ""
    while ready not in ("true", "error") and time.monotonic() < deadline:
        time.sleep(0.25)
        ready = browser.evaluate("document.documentElement.dataset.ready || ''", session)
    return session


def click(browser: Chromium, session: str, where: list[float]) -> None:
    """A click of the left mouse button at page coordinates `where`."""
    for kind in ("mousePressed", "mouseReleased"):
        browser.send("Input.dispatchMouseEvent", {"type": kind, "x": where[0], "y": where[1],
                                                  "button": "left", "clickCount": 1},
                     session=session)


def wait_for(browser: Chromium, session: str, expression: str, seconds: float = 20) -> Any:
    """The value of `expression` once it is truthy (or its last value after `seconds`)."""
    deadline = time.monotonic() + seconds
    value = browser.evaluate(expression, session)
    while not value and time.monotonic() < deadline:
        time.sleep(0.2)
        value = browser.evaluate(expression, session)
    return value


def toggle(browser: Chromium, session: str, layer: str) -> bool:
    """Tick or untick a layer in the panel (a real click on its box): whether it is on."""
    return browser.evaluate(f"""(() => {{
        const box = document.querySelector('#layers li[data-layer="{layer}"] input');
        box.click();
        return box.checked;
    }})()""", session)


# (in an async function) a frame drawn after the last move, and every tile it needs loaded
SETTLED = ("await new Promise(r => onemap.map.isMoving() ? onemap.map.once('moveend', r) : r()); "
            "await new Promise(r => { onemap.map.once('idle', r); onemap.map.triggerRepaint(); });")


def shot(browser: Chromium, session: str, path: Path) -> Path:
    shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    return tuple(int(colour[i:i + 2], 16) for i in (0, 2, 4))


def http_get(url: str, accept: str | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, headers={**({"Accept": accept} if accept else {}),
                                                   **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
