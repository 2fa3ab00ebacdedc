"""Driving ``ddx serve`` in a real headless browser: Debian's Chromium through Playwright.

Shared by tests/test_serve.py and tools/serve_screenshot.py. Playwright's own browser downloads are never
used (``playwright install`` is not needed): it launches the Chromium at ``CHROMIUM``, with a fresh
temporary profile each time.

The page's terminal is xterm.js drawing on a canvas, so its text is not in the DOM. ``HOOK`` (run before
the page's own scripts) notes every object that gets a ``_core`` property, which the xterm.js
``Terminal`` is one of; ``SCREEN`` then reads the visible rows through xterm.js's public buffer API.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("DDX_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}  # about 142 x 38 terminal cells at textual-serve's 16 px font

HOOK = """
(() => {
  window.__ddxTerminals = [];
  Object.defineProperty(Object.prototype, "_core", {
    configurable: true,
    set(value) {
      Object.defineProperty(this, "_core", {value, writable: true, configurable: true, enumerable: true});
      window.__ddxTerminals.push(this);
    },
  });
})();
"""

SCREEN = """() => {
  for (const t of window.__ddxTerminals || []) {
    try {
      const b = t.buffer && t.buffer.active;
      if (!b || typeof b.getLine !== "function" || typeof t.rows !== "number") continue;
      const rows = [];
      for (let i = 0; i < t.rows; i++) {
        const line = b.getLine(b.viewportY + i);
        rows.push(line ? line.translateToString(true) : "");
      }
      return rows.join("\\n");
    } catch (e) {}
  }
  const dom = document.querySelector(".xterm-rows");    // xterm.js's DOM renderer, if it is the one in use
  return dom ? dom.innerText : null;
}"""

# a row of the differential's ranking table: '▏  2   ARMS      18.8 ██▎' or '▏  8   SRMS · TFCP2-RMS 67 %    2.0 ▏'
RANK_ROW = re.compile(r"▏\s+(\d{1,2})\s{2,}([A-Z][A-Z0-9]+)\b.*?\s(\d{1,3}\.\d)\s")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (Debian: apt-get install chromium; or set DDX_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install '.[test]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Served:
    """A running ``ddx serve``: its process (leader of its own process group) and its URL."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the server (as Ctrl-C would end it); its exit status, or None if it did not end in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def group_alive(self) -> bool:
        """Is any process of the server's group (the server, its sessions' shells and ``ddx tui``s) still
        running? A zombie is not (where nothing reaps orphans, as in some containers, they stay)."""
        return bool(group_members(self.process.pid))


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid``."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():  # no /proc: a zombie counts as alive
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


@contextmanager
def served(*args: str, env: dict[str, str], log: Path, timeout: float = 30.0) -> Iterator[Served]:
    """Run ``python -m ddx serve --port FREE *args`` until the block ends; then end it and every process it
    started (its process group: SIGTERM, then SIGKILL), whatever happened."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ddx", "serve", "--port", str(port), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    server = Served(process, url, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ddx serve ended with status {process.returncode}:\n{server.output()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"ddx serve did not answer on {url} within {timeout:.0f} s:\n{server.output()}")
            time.sleep(0.1)
        yield server
    finally:
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if process.poll() is not None and not server.group_alive():
                break
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(wait)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + wait  # the group's other members (session shells, ddx tui)
            while server.group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)


@contextmanager
def browser_page(origin: str, refused: list[str] | None = None) -> Iterator[Any]:
    """A page of a fresh headless Chromium that may load only from ``origin``, with the terminal hook
    installed. Anything else the page asks for is refused (the test must not depend on, or reach, the
    internet) and its URL appended to ``refused``."""
    from playwright.sync_api import Route, sync_playwright

    def only_origin(route: Route) -> None:
        if route.request.url.startswith(origin):
            route.continue_()
        else:
            if refused is not None:
                refused.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.add_init_script(HOOK)
            page.route("**/*", only_origin)
            yield page
        finally:
            browser.close()


def screen(page: Any) -> str:
    """The terminal's visible text, one line per row ('' before the terminal exists)."""
    return page.evaluate(SCREEN) or ""


def wait_for_screen(page: Any, ready: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
    """Poll the terminal until ``ready(text)``; AssertionError naming ``what`` with the last screen if not."""
    deadline = time.monotonic() + timeout
    while True:
        text = screen(page)
        if ready(text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"the page did not show {what} within {timeout:.0f} s; it showed:\n{text}")
        time.sleep(0.1)


def ranking_rows(text: str) -> list[tuple[str, str]]:
    """The ranking rows on screen, in order: (entity as shown, e.g. 'IMT'; probability %, e.g. '16.3')."""
    return [(m[2], m[3]) for line in text.splitlines() if (m := RANK_ROW.search(line))]


def open_app(page: Any, url: str) -> str:
    """Load the page, press textual-serve's Start button if it shows one, and wait for the app's first
    screen (a ranking of at least five rows); its text."""
    page.goto(url)
    start = page.locator("#start")
    if start.is_visible():
        start.click()
    return wait_for_screen(page, lambda t: len(ranking_rows(t)) >= 5, "the differential")


def type_line(page: Any, line: str) -> None:
    """Type ``line`` and Enter into the terminal (into the TUI's focused field: quick entry on a new case)."""
    page.focus(".xterm-helper-textarea")
    page.keyboard.type(line)
    page.keyboard.press("Enter")
