"""The desk in a real browser: Debian's ``chromium`` driven by Playwright for Python (no
``playwright install``: the system browser is launched by path).

Where the browser cannot run (no ``/usr/bin/chromium``, or Playwright not installed) the tests
are skipped with the reason printed, except when ``CI`` is set (``CI=true``, as .ci/run runs)
or ``COMMEX_REQUIRE_BROWSER=1``: then they fail, because CI must run them. ``make test``
installs chromium with apt-get when it is missing and the user is root."""

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("COMMEX_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"


def browser_required() -> bool:
    return os.environ.get("COMMEX_REQUIRE_BROWSER") == "1" or os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable() -> str | None:
    """Why the browser cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; make test does it as root)"
    return None


@pytest.fixture(scope="module")
def browser(server) -> Iterator:
    """Chromium for one module, started after its server: Playwright's sync API keeps an event
    loop running in this thread, so the server's fixtures (asyncio.run) must not run meanwhile."""
    reason = unavailable()
    if reason is not None:
        if browser_required():
            pytest.fail(f"the desk's browser tests must run here (CI): {reason}")
        print(f"\nSKIPPING the desk's browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


class Desk:
    """One member's browser context on the desk, with its console errors collected."""

    def __init__(self, browser, server, member: str, lang: str = "zh-CN", base: str | None = None) -> None:
        self.server, self.member = server, member
        self.context = browser.new_context(viewport={"width": 1440, "height": 960}, locale=lang,
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{base or server.base}/?lang={lang}")

    def sign_in(self, secret: str | None = None) -> "Desk":
        creds = self.server.credentials()[self.member]
        self.page.get_by_test_id("api-key").fill(creds["api_key"])
        self.page.get_by_test_id("api-secret").fill(secret if secret is not None else creds["api_secret"])
        self.page.get_by_test_id("signin-submit").click()
        return self

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def desk(browser, server):
    """Open desks (``desk(member, lang)``); all closed after the test, which must leave no page error."""
    opened: list[Desk] = []

    def open_desk(member: str, lang: str = "zh-CN", sign_in: bool = True, base: str | None = None) -> Desk:
        d = Desk(browser, server, member, lang, base)
        opened.append(d)
        return d.sign_in() if sign_in else d

    yield open_desk
    errors = [e for d in opened for e in d.errors]
    for d in opened:
        d.close()
    assert not errors, errors


def colour_spread(browser, png: bytes) -> tuple[int, float]:
    """(distinct colours, the share of the most common one) on a 100 x 100 grid of the image,
    decoded by the browser itself."""
    page = browser.new_page()
    try:
        url = "data:image/png;base64," + base64.b64encode(png).decode()
        return tuple(page.evaluate("""async (url) => {
            const img = new Image(); img.src = url; await img.decode();
            const c = document.createElement("canvas"); c.width = img.width; c.height = img.height;
            const g = c.getContext("2d"); g.drawImage(img, 0, 0);
            const data = g.getImageData(0, 0, c.width, c.height).data, seen = new Map();
            for (let y = 0; y < 100; y++) for (let x = 0; x < 100; x++) {
                const i = (Math.floor(y * c.height / 100) * c.width + Math.floor(x * c.width / 100)) * 4;
                const k = data[i] << 16 | data[i + 1] << 8 | data[i + 2];
                seen.set(k, (seen.get(k) || 0) + 1);
            }
            return [seen.size, Math.max(...seen.values()) / 10000];
        }""", url))
    finally:
        page.close()


def screenshot(browser, page, name: str) -> Path:
    """Save a full-page screenshot under var/screenshots/ and check it is not blank."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    png = page.screenshot(path=str(path), full_page=True)
    colours, commonest = colour_spread(browser, png)
    assert colours >= 4 and commonest < 0.97, f"{path} looks blank: {colours} colours, one covers {commonest:.0%}"
    return path


def credentials(server) -> dict:
    return json.loads((server.data_dir / "demo-credentials.json").read_text())
