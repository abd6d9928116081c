"""Vocabulary shared by commands, events and the book: sides, order types, sessions, reasons.

Values are plain strings so they travel unchanged through JSON, msgpack and SQL.
"""

from typing import Literal

BUY = "buy"
SELL = "sell"
Side = Literal["buy", "sell"]

LIMIT = "limit"
MARKET = "market"
OrderType = Literal["limit", "market"]

GTC = "GTC"
DAY = "DAY"
IOC = "IOC"
FOK = "FOK"
TimeInForce = Literal["GTC", "DAY", "IOC", "FOK"]

CANCEL_NEWEST = "cancel_newest"
CANCEL_OLDEST = "cancel_oldest"
CANCEL_BOTH = "cancel_both"
Stp = Literal["cancel_newest", "cancel_oldest", "cancel_both"]

CLOSED = "closed"
PRE_OPEN = "pre_open"
CONTINUOUS = "continuous"
HALTED = "halted"
SessionState = Literal["closed", "pre_open", "continuous", "halted"]

# Legal session transitions: target -> states it may be entered from.
SESSION_TRANSITIONS: dict[str, frozenset[str]] = {
    PRE_OPEN: frozenset({CLOSED, HALTED}),
    CONTINUOUS: frozenset({CLOSED, PRE_OPEN, HALTED}),
    HALTED: frozenset({PRE_OPEN, CONTINUOUS}),
    CLOSED: frozenset({PRE_OPEN, CONTINUOUS, HALTED}),
}

# Why an order left the book without filling.
CancelReason = Literal["user", "mass", "stp", "unfilled", "expired"]


class Reject:
    """Stable machine-readable rejection codes; a rejected command changes no book state."""

    UNKNOWN_INSTRUMENT = "UNKNOWN_INSTRUMENT"
    DUPLICATE_INSTRUMENT = "DUPLICATE_INSTRUMENT"
    INVALID_INSTRUMENT = "INVALID_INSTRUMENT"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_PRICE = "INVALID_PRICE"
    INVALID_ORDER = "INVALID_ORDER"
    BAD_TICK = "BAD_TICK"
    PRICE_OUT_OF_BAND = "PRICE_OUT_OF_BAND"
    MAX_SIZE = "MAX_SIZE"
    POST_ONLY_WOULD_TAKE = "POST_ONLY_WOULD_TAKE"
    FOK_NOT_FILLABLE = "FOK_NOT_FILLABLE"
    MIN_QTY_NOT_MET = "MIN_QTY_NOT_MET"
    NO_LIQUIDITY = "NO_LIQUIDITY"
    NOT_ALLOWED_IN_AUCTION = "NOT_ALLOWED_IN_AUCTION"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    NO_CHANGE = "NO_CHANGE"
    AMEND_QTY_TOO_LOW = "AMEND_QTY_TOO_LOW"
    SESSION_CLOSED = "SESSION_CLOSED"
    SESSION_HALTED = "SESSION_HALTED"
    INVALID_SESSION_TRANSITION = "INVALID_SESSION_TRANSITION"
