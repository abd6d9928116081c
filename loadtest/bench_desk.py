"""The desk's ladder under a busy feed, in a real browser.

``python -m loadtest.bench_desk`` starts a real exchange (demo data, its own embedded PostgreSQL),
opens the desk in Debian's chromium (Playwright) as a member watching the demo's near cotton month
(``CF_NEAR``), and measures the page's frame rate idle, then while four threads (two buyers and two
sellers) change the book about ``RATE`` times a second (limit orders placed and cancelled at random
levels that do not cross): first with the page showing another instrument (the ceiling: the same
machine under the same load), then showing the near month's ladder. It counts the book updates the
page applied, then checks that the ladder it shows equals ``GET /v1/book`` once the load stops.
Prints one JSON line; the floor is 30 frames a second.
"""

import json
import random
import threading
import time

from gateway.demo import CF_NEAR
from gateway.process import ServerProcess
from loadtest.bench_gateway import demo_exchange

RATE = 100  # book changes a second
SECONDS = 10.0
IDLE_SECONDS = 3.0
FPS_FLOOR = 30
SYMBOL = CF_NEAR
SIDES = (("huafang-textile", "buy"), ("luneng-agri", "sell"))
VIEWER = "xinjiang-cotton-group"  # watches the book; its own orders are not the ones changing
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FRAMES = """() => new Promise((resolve) => {
  window.__frames = 0; (function tick() { window.__frames++; requestAnimationFrame(tick); })(); resolve();
})"""


def churn(exchange: ServerProcess, member: str, side: str, rate: float, stop: threading.Event,
          counts: dict, worker: int) -> None:
    """Place and cancel ``member``'s orders on one side at random levels away from the touch (no
    crossing), ``rate`` a second, keeping at most 20 resting."""
    client, rng, resting, n = exchange.client(member), random.Random(worker), [], 0
    start = time.monotonic()
    while not stop.is_set():
        n += 1
        if resting and (len(resting) > 20 or rng.random() < 0.45):
            client.cancel(resting.pop(rng.randrange(len(resting))))
        else:
            ticks = rng.randint(1, 25)
            price = 14_975 - 5 * ticks if side == "buy" else 15_030 + 5 * ticks
            status, order = client.place(SYMBOL, side, rng.randint(1, 9), f"{price}.00", f"bench-{worker}-{n}")
            if status == 201:
                resting.append(order["order_id"])
        counts[worker] = n
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def frames_during(page, seconds: float) -> float:
    """The page's animation frames a second over ``seconds``."""
    page.evaluate("window.__frames = 0")
    began = time.monotonic()
    time.sleep(seconds)
    return page.evaluate("window.__frames") / (time.monotonic() - began)


def ladder(page) -> dict:
    return page.evaluate("""() => {
      const rows = [...document.querySelectorAll('[data-testid=ladder] tr[data-side]')];
      const side = (s) => rows.filter((r) => r.dataset.side === s && r.dataset.price).map((r) =>
        [r.dataset.price, Number(r.cells[1].textContent.replace(/,/g, ''))]);
      return {bids: side('bid'), asks: side('ask').reverse(),
              seq: Number(document.querySelector('[data-testid=ladder]').dataset.seq)};
    }""")


def main() -> None:
    from playwright.sync_api import sync_playwright

    with demo_exchange("commex-desk-") as exchange:
        creds = exchange.credentials()[VIEWER]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 960})
            page.goto(f"{exchange.base}/?lang=en")
            page.get_by_test_id("api-key").fill(creds["api_key"])
            page.get_by_test_id("api-secret").fill(creds["api_secret"])
            page.get_by_test_id("signin-submit").click()
            page.locator("[data-testid=instruments] tr[data-symbol=UR]").click()
            page.locator("[data-testid=ladder] tr[data-price]").first.wait_for()
            page.evaluate(FRAMES)
            time.sleep(IDLE_SECONDS)
            idle_fps = page.evaluate("window.__frames") / IDLE_SECONDS

            stop, counts = threading.Event(), {}
            workers = [threading.Thread(target=churn, args=(exchange, member, side, RATE / 4, stop, counts, k))
                       for k, (member, side) in enumerate(2 * SIDES)]
            for worker in workers:
                worker.start()
            time.sleep(1.0)
            ceiling_fps = frames_during(page, SECONDS)  # the same load, the page showing another book
            page.locator(f"[data-testid=instruments] tr[data-symbol={SYMBOL}]").click()
            page.locator("[data-testid=ladder] tr[data-price='15030.00']").wait_for()  # the demo's ask
            seq0, before, began = ladder(page)["seq"], sum(counts.values()), time.monotonic()
            fps = frames_during(page, SECONDS)
            changes = (sum(counts.values()) - before) / (time.monotonic() - began)
            seq1 = ladder(page)["seq"]
            stop.set()
            for worker in workers:
                worker.join()
            time.sleep(0.5)  # the last deltas (flushed every 10 ms) reach the page
            shown = ladder(page)
            book = exchange.client("huafang-textile").book(SYMBOL, 10)[1]
            browser.close()
    expected = {"bids": [list(level) for level in book["bids"]], "asks": [list(level) for level in book["asks"]]}
    print(json.dumps({
        "bench": "desk_ladder", "book_changes_per_s": round(changes, 1),
        "feed_updates_applied_per_s": round((seq1 - seq0) / SECONDS, 1),
        "fps": round(fps, 1), "fps_ceiling_same_load": round(ceiling_fps, 1), "fps_idle": round(idle_fps, 1),
        "fps_floor": FPS_FLOOR,
        "ladder_matches_book": shown["bids"] == expected["bids"] and shown["asks"] == expected["asks"]
        and shown["seq"] == book["seq"],
        "ok": fps >= FPS_FLOOR,
    }))


if __name__ == "__main__":
    main()
