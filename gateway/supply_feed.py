"""Bulk supply on ``/v1/ws``: the public ``auctions`` channel (every auction's lots as they
change, listings opening and closing) and ``auction.{id}`` (one auction), each lot with its best
price, bid count and countdown, bidders never named; and the member's own bids, outbids, wins,
bonds, payment deadlines, forfeits, counter-offers and deals on its private stream (``orders``
channel, message types ``auction`` and ``listing``). Messages are sent at commit, not conflated:
a lot changes at most once per bid. Countdowns are on the sequencer's clock (``close_ns`` is
too), so they stay right under a drill's simulated clock."""

from clearing.auctions import OPEN
from gateway.prices import with_yuan, yuan_if_set

_MONEY = ("price", "value", "bond")  # a private notice's money fields (fen), sent as yuan


def lot_message(auction_id: int, lot_no: int, best: int, bids: int, close_ns: int, state: str, now_ns: int) -> dict:
    return {"auction_id": auction_id, "lot_no": lot_no, "best": yuan_if_set(best),
            "bids": bids, "close_ms": close_ns // 1_000_000, "state": state,
            "countdown_ms": max(0, (close_ns - now_ns) // 1_000_000) if state == OPEN else 0}


def snapshot(state, channel: str, now: int) -> dict | None:
    """The first message of a supply channel, or None if there is no such channel."""
    auctions = state.auctions.auctions
    if channel == "auctions":
        chosen = [a for a in auctions.values() if a.state == OPEN]
    else:
        _, _, number = channel.partition(".")
        auction = auctions.get(int(number)) if number.isdigit() and len(number) < 12 else None
        if auction is None:
            return None
        chosen = [auction]
    lots = [lot_message(a.auction_id, lot.lot_no, lot.best, lot.bids, lot.close_ns, lot.state, now)
            for a in chosen for lot in a.lots]
    return {"type": "auctions_snapshot", "channel": channel, "lots": lots}


def is_supply_channel(channel: str) -> bool:
    return channel == "auctions" or channel.startswith("auction.")


def on_commit(publisher, state) -> None:
    """Fan out what auctions and listings noted in the batch just committed: each lot message
    as the notice saw the lot (a batch may change a lot several times)."""
    now = publisher.exchange.now_ns()
    for source, kind in ((state.auctions, "auction"), (state.listings, "listing")):
        notices, source.notices = source.notices, []
        for member, notice in notices:
            if member:
                publisher._publish_private(member, kind, with_yuan(notice, _MONEY))
                continue
            if notice["type"] == "auction_lot":
                message = {"type": "auction_lot", **lot_message(
                    notice["auction_id"], notice["lot_no"], notice["best"], notice["bids"], notice["close_ns"],
                    notice["state"], now)}
                for channel in ("auctions", f"auction.{notice['auction_id']}"):
                    publisher._send(publisher.channels.get(channel), {**message, "channel": channel})
            else:
                publisher._send(publisher.channels.get("auctions"), {**notice, "channel": "auctions"})

