"""The live feed across a lost connection: the desk reaches the exchange through a TCP relay
that the test cuts; the desk shows a banner, reconnects by itself when the relay is back,
subscribes again (fresh snapshots) and shows what happened while it was away, without a reload."""

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from gateway.demo import CF_NEAR


class Relay:
    """Forwards 127.0.0.1:port to the exchange; ``cut`` drops every connection and refuses new
    ones until ``restore``."""

    def __init__(self, target: int) -> None:
        self.target, self.up, self.conns, self.lock = target, True, [], threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def relay(server) -> Iterator[Relay]:
    r = Relay(server.port)
    yield r
    r.close()


def test_a_lost_connection_shows_a_banner_and_the_desk_catches_up_after_it(desk, server, relay) -> None:
    d = desk("huafang-textile", "en", base=f"http://127.0.0.1:{relay.port}")
    page = d.page
    page.locator(f"[data-testid=instruments] tr[data-symbol={CF_NEAR}]").click()
    expect(page.locator("[data-testid=ladder] tr[data-price='14975.00']")).to_be_visible()
    expect(page.locator("body[data-live=open]")).to_have_count(1)
    page.get_by_test_id("tab-fills").click()

    relay.cut()
    expect(page.get_by_test_id("conn-banner")).to_be_visible()
    expect(page.get_by_test_id("conn-banner")).to_contain_text("reconnecting")
    # meanwhile the market moves: a new bid, and a trade against this member's resting bid
    other, me = server.client("luneng-agri"), server.client("huafang-textile")
    assert me.place(CF_NEAR, "buy", 3, "14960.00", "while-away-bid")[0] == 201
    status, sold = other.place(CF_NEAR, "sell", 1, "14975.00", "while-away-sell")
    assert status == 201 and sold["cum_qty"] == 1, sold
    relay.restore()

    expect(page.get_by_test_id("conn-banner")).to_be_hidden(timeout=10_000)
    expect(page.locator("[data-testid=ladder] tr[data-price='14960.00']")).to_be_visible()  # fresh snapshot
    expect(page.locator("[data-testid=ladder] tr[data-price='14975.00']")).to_contain_text("19")
    expect(page.locator("[data-testid=fills] td", has_text="14,975.00").first).to_be_visible()  # refetched
    assert me.place(CF_NEAR, "buy", 1, "14955.00", "after-return")[0] == 201  # and live again
    expect(page.locator("[data-testid=ladder] tr[data-price='14955.00']")).to_be_visible()
