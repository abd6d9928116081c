"""Order entry over ``/v1/ws`` as a load generator: several logged-in connections, each keeping a
window of order messages in flight (pipelining) for a while; every answer is matched to its
message by ``request_id``, its status counted and its latency (from sending) kept."""

import asyncio
import time
from collections.abc import Callable

import msgspec

from gateway.feed_client import login_message
from loadtest.httpload import Result
from loadtest.wsreader import open_feed

_encode = msgspec.json.encode


class Answer(msgspec.Struct):
    """The fields of an answer the load generator reads (others are skipped)."""

    type: str
    request_id: int | str | None = None
    status: int = 0
    member: str | None = None


_decode_answer = msgspec.json.Decoder(Answer).decode


class Connection:
    """One logged-in connection and its messages in flight (request id -> when sent)."""

    def __init__(self, result: Result, make_body: Callable[[int], dict], counter) -> None:
        self.result, self.make_body, self.counter = result, make_body, counter
        self.sent: dict[int, float] = {}
        loop = asyncio.get_running_loop()
        self.logged_in, self.done = loop.create_future(), loop.create_future()
        self.end = float("inf")
        self.feed = None

    async def open(self, host: str, port: int, creds: dict) -> None:
        self.feed = await open_feed(host, port, "/v1/ws", self.on_text)
        self.feed.send_text(_encode(login_message(creds["api_key"], creds["api_secret"])))
        await asyncio.wait_for(self.logged_in, 10)

    def send(self) -> None:
        n = next(self.counter)
        self.sent[n] = time.perf_counter()
        self.feed.send_text(_encode({"type": "order.new", "request_id": n, "body": self.make_body(n)}))

    def on_text(self, payload: bytes) -> None:
        answer = _decode_answer(payload)
        if answer.type == "logged_in" and not self.logged_in.done():
            self.logged_in.set_result(None)
        if answer.type not in ("answer", "error") or answer.request_id not in self.sent:
            return
        now = time.perf_counter()
        result = self.result
        result.latencies.append(now - self.sent.pop(answer.request_id))
        if now < self.end:  # answers after the end are awaited but not counted
            result.statuses[answer.status if answer.type == "answer" else 0] += 1
            result.count += 1
            self.send()
        elif not self.sent and not self.done.done():
            self.done.set_result(None)

    async def run(self, window: int, end: float) -> None:
        """Keep ``window`` messages in flight until ``end``; then wait for those still due."""
        self.end = end
        for _ in range(window):
            self.send()
        await asyncio.wait([self.done, self.feed.closed], timeout=max(0.0, end - time.perf_counter()) + 30,
                           return_when=asyncio.FIRST_COMPLETED)
        self.feed.transport.close()


async def closed_loop(host: str, port: int, logins: list[dict], make_body: Callable[[int], dict], window: int,
                      seconds: float) -> Result:
    """One connection per credentials in ``logins`` (dicts with ``api_key``, ``api_secret``),
    all logged in first, then each with ``window`` ``order.new`` messages in flight for
    ``seconds``: the answers that arrive in that time are counted (an ``error`` message under
    status 0). ``make_body(n)`` is the n-th order body."""
    result = Result()
    counter = iter(range(1 << 62))
    connections = [Connection(result, make_body, counter) for _ in logins]
    await asyncio.gather(*(c.open(host, port, creds) for c, creds in zip(connections, logins, strict=True)))
    start = time.perf_counter()
    await asyncio.gather(*(c.run(window, start + seconds) for c in connections))
    result.seconds = seconds
    return result
