"""The call-auction (集合竞价) price rule, as a pure function over aggregated levels."""

from bisect import bisect_left, bisect_right


def uncross_price(
    bids: list[tuple[int, int]], asks: list[tuple[int, int]], reference: int
) -> tuple[int, int]:
    """Choose the single price at which a crossed book uncrosses.

    ``bids`` and ``asks`` are (price, total quantity) per level in any order. Among the
    level prices, pick the one that maximises executable volume, then minimises the
    imbalance between the two sides' cumulative quantities, then lies nearest
    ``reference``, then is the lower. Returns (price, volume); volume 0 means no trade.
    """
    if not bids or not asks:
        return 0, 0
    bid_prices = sorted(p for p, _ in bids)
    ask_prices = sorted(p for p, _ in asks)
    bid_qty = dict(bids)
    ask_qty = dict(asks)
    # bid_at_or_above[i]: quantity bid at prices >= bid_prices[i]
    bid_at_or_above = [0] * (len(bid_prices) + 1)
    for i in range(len(bid_prices) - 1, -1, -1):
        bid_at_or_above[i] = bid_at_or_above[i + 1] + bid_qty[bid_prices[i]]
    ask_at_or_below = [0]
    for p in ask_prices:
        ask_at_or_below.append(ask_at_or_below[-1] + ask_qty[p])
    best: tuple[int, int, int, int] | None = None
    best_price = 0
    for p in sorted(set(bid_prices) | set(ask_prices)):
        demand = bid_at_or_above[bisect_left(bid_prices, p)]
        supply = ask_at_or_below[bisect_right(ask_prices, p)]
        volume = min(demand, supply)
        if volume == 0:
            continue
        key = (-volume, abs(demand - supply), abs(p - reference), p)
        if best is None or key < best:
            best, best_price = key, p
    if best is None:
        return 0, 0
    return best_price, -best[0]
