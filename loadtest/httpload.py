"""A small asyncio HTTP/1.1 load generator over keep-alive connections.

``closed_loop`` keeps every connection busy for a while (throughput); ``open_loop`` sends at
a constant rate and times each request from when it was due, not when a connection was free,
so a stalled server shows as latency instead of hiding as a slower send rate.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Callable


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


def quantile_ms(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (seconds), in milliseconds; 0 for none.

    >>> quantile_ms([0.001, 0.002, 0.003, 0.004], 0.5)
    3.0
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1_000


class Result:
    def __init__(self) -> None:
        self.count = 0
        self.statuses: Counter[int] = Counter()
        self.latencies: list[float] = []
        self.due: list[float] = []  # open_loop: each latency's due time, seconds from the start
        self.late: list[float] = []  # open_loop: how late each request was sent (the generator's own delay)
        self.seconds = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def quantile_ms(self, q: float) -> float:
        """The ``q`` quantile of the latencies, in milliseconds."""
        return quantile_ms(self.latencies, q)


async def closed_loop(host: str, port: int, make_request: Callable[[], bytes], connections: int,
                      seconds: float) -> Result:
    """Each connection sends its next request as soon as the last one is answered."""
    result = Result()
    start = time.perf_counter()
    end = start + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                writer.write(make_request())
                status = await read_response(reader)
                result.latencies.append(time.perf_counter() - t0)
                result.statuses[status] += 1
                result.count += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    result.seconds = time.perf_counter() - start
    return result


async def open_loop(host: str, port: int, make_request: Callable[[], bytes], connections: int, rate: float,
                    seconds: float) -> Result:
    """Send ``rate`` requests a second for ``seconds``; latency counts from each request's due time."""
    result = Result()
    idle: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection(host, port))
    total = int(rate * seconds)
    start = time.perf_counter()
    pending: set[asyncio.Task] = set()

    async def send(due: float) -> None:
        reader, writer = await idle.get()
        request = make_request()
        result.late.append(time.perf_counter() - due)
        writer.write(request)
        status = await read_response(reader)
        result.latencies.append(time.perf_counter() - due)
        result.due.append(due - start)
        result.statuses[status] += 1
        result.count += 1
        idle.put_nowait((reader, writer))

    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.get_running_loop().create_task(send(due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    result.seconds = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait()[1].close()
    return result
