"""The receipt registry: a deterministic state machine, like the engine (commands in, events
out, no I/O), run by the same sequencer and journal.

A receipt (仓单) is ``registered`` and may enter at most one of ``locked_for_sale``,
``pledged`` or ``frozen_for_delivery`` at a time, returning to ``registered``; a registered
receipt may be ``cancelled`` (withdrawn). Every change is a ``ReceiptEvent`` numbered per
receipt without gaps. One table, ``TRANSITIONS``, says for each action the state it starts
from and what it does to the receipt; the live registry and ``fold(history)``, which rebuilds
a receipt from its events alone, both move receipts by it.

Sell orders on receipt-backed instruments hold receipts too: one lot is one receipt.
``lock_for_order`` locks them when the order is accepted, ``deliver`` hands filled lots to the
buyer, ``unlock_order`` frees what a cancel, expiry or amendment leaves over. Financing
pledges, releases and (in a liquidation) seizes receipts through ``pledge``, ``release`` and
``seize``.

Memory keeps a receipt's newest custody events only: past ``2 × history_kept`` events the
older ones fold into ``history_base`` (the receipt as they left it) and leave memory; they
are in SQL (``receipt_events``), where the gateway reads a whole history. Decided by counts
alone, so a replay trims the same.
"""

import hashlib
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import msgspec

from warehouse_receipts.dates import DAY_NS, local_date
from warehouse_receipts.expiry import (
    ExpiryRule,
    ReceiptDue,
    SetExpiryRule,
    crop_year_and_expiry,
    is_old_crop,
    rule_of,
)
from warehouse_receipts.grading import TABLES as _TABLES
from warehouse_receipts.grading import PremiumTable, deliverable, table_for, value_fen
from warehouse_receipts.quality import CottonQuality, Quality, Refused, commodity_of, cotton_weight_kg, grade

REGISTERED = "registered"
LOCKED = "locked_for_sale"
PLEDGED = "pledged"
FROZEN = "frozen_for_delivery"
TENDERED = "tendered"  # tendered against a forward's delivery (clearing/delivery.py): no sale, pledge, withdrawal
RELEASING = "released_for_pickup"  # an open outbound release order (出库单): awaiting pickup
OFFERED = "offered"  # in an auction lot or a listing (bulk supply): no sale, pledge or second offer
EXPIRED = "expired"  # past its validity (crop year, production date): no sale, pledge or delivery
CANCELLED = "cancelled"
HISTORY_KEPT = 64  # a receipt's newest custody events kept in memory (older ones are read from SQL)

_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}
MAX_QUANTITY_KG = 10**9  # a million tonnes: far above any receipt, far below 64 bits


# ------------------------------------------------------------------ commands

class IssueReceipt(msgspec.Struct, tag="issue_receipt", **_OPTS):
    """A warehouse registers inspected goods. Cotton's weight is its conditioned bale weight;
    other goods give ``quantity_kg``."""

    actor: str
    certificate_no: str
    inspector: str
    owner: str
    quality: Quality
    quantity_kg: int = 0


# A weighing (goods out, or an inspection against the arrival) may differ from the weight on record
# by moisture and tare, a few per mille; a tenth apart is a mistyped weight, refused.
WEIGHT_TOLERANCE_BPS = 1_000


def weighs_as(weight_kg: int, reference_kg: int) -> bool:
    """Whether ``weight_kg`` is within ``WEIGHT_TOLERANCE_BPS`` of ``reference_kg``.

    >>> weighs_as(20_950, 20_000), weighs_as(999_999_999, 456)
    (True, False)
    """
    return abs(weight_kg - reference_kg) * 10_000 <= reference_kg * WEIGHT_TOLERANCE_BPS


def issued_weight_kg(quality: Quality, quantity_kg: int) -> int:
    """The weight a receipt is issued for: cotton's from its bales, other goods' as given."""
    return cotton_weight_kg(quality) if isinstance(quality, CottonQuality) else quantity_kg


class ReceiptAction(msgspec.Struct, **_OPTS):
    """A change to one receipt by ``actor``; each subclass is one command. Its time is the
    journal entry's (the sequencer's clock), passed to ``Registry.apply``."""

    actor: str
    receipt_id: str


class TransferReceipt(ReceiptAction, tag="transfer_receipt"):
    to: str


class LockReceipt(ReceiptAction, tag="lock_receipt"):
    pass


class UnlockReceipt(ReceiptAction, tag="unlock_receipt"):
    pass


class PledgeReceipt(ReceiptAction, tag="pledge_receipt"):
    lender: str


class ReleaseReceipt(ReceiptAction, tag="release_receipt"):
    """The lender consents to release its pledge."""


class FreezeReceipt(ReceiptAction, tag="freeze_receipt"):
    pass


class UnfreezeReceipt(ReceiptAction, tag="unfreeze_receipt"):
    pass


class CancelReceipt(ReceiptAction, tag="cancel_receipt"):
    """Legacy physical withdrawal (its code was never checked): kept so old journals replay
    unchanged; no route issues it any more. Withdrawal is now a release order and a pickup
    against its one-time code (``warehouse_receipts.warehouse``)."""

    pickup_code: str


class SetDeliverySpec(msgspec.Struct, tag="set_delivery_spec", **_OPTS):
    """Make an instrument receipt-backed: its sell orders lock deliverable receipts, one a lot."""

    actor: str
    symbol: str
    commodity: str
    table: str
    warehouses: list[str] = []
    lot_kg: int = 0
    tolerance_bps: int = 1_000


ReceiptCommand = (IssueReceipt | TransferReceipt | LockReceipt | UnlockReceipt | PledgeReceipt | ReleaseReceipt
                  | FreezeReceipt | UnfreezeReceipt | CancelReceipt | SetDeliverySpec | SetExpiryRule)


# ------------------------------------------------------------------ state and events

class Receipt(msgspec.Struct, kw_only=True):
    """A receipt as the registry holds it."""

    receipt_id: str
    commodity: str
    warehouse: str
    certificate_no: str
    inspector: str
    owner: str
    quantity_kg: int
    quality: Quality
    factors: dict[str, str]
    issued_ts_ns: int
    state: str = REGISTERED
    pledgee: str = ""
    order_id: int = 0
    version: int = 0
    crop_year: int = 0  # cotton under a crop-year expiry rule
    expires_ns: int = 0  # 0: never


class ReceiptEvent(msgspec.Struct, kw_only=True):
    """One change to one receipt: ``version`` counts that receipt's events from 1, ``seq`` all
    registry events. ``counterparty`` is the new owner (transfer, deliver) or the lender
    (pledge); ``receipt`` is set on the issue event only."""

    seq: int
    receipt_id: str
    version: int
    action: str
    actor: str
    ts_ns: int
    counterparty: str = ""
    order_id: int = 0
    detail: str = ""
    receipt: Receipt | None = None
    trade_id: int = 0  # the trade a delivery settled


class DeliverySpec(msgspec.Struct, kw_only=True):
    """A receipt-backed instrument: one lot is one receipt of ``commodity`` weighing within
    ``tolerance_bps`` of ``lot_kg`` (0: any weight), from ``warehouses`` (empty: any)."""

    symbol: str
    commodity: str
    table: str
    warehouses: list[str] = []
    lot_kg: int = 0
    tolerance_bps: int = 1_000


class ReceiptRejected(msgspec.Struct):
    """A refused receipt command; nothing changed."""

    code: str
    message: str


class Transition(NamedTuple):
    """What a receipt action needs and does: the state it must start from, the state it leaves
    the receipt in, and whether the event's counterparty becomes the owner (else the owner is
    kept) or the pledgee, and whether the event's order id becomes the holding order (a pledgee
    or order id not taken is cleared)."""

    start: str
    state: str
    owner: bool = False
    pledgee: bool = False
    order_id: bool = False


TRANSITIONS: dict[str, Transition] = {
    "transfer": Transition(REGISTERED, REGISTERED, owner=True),
    "deliver": Transition(LOCKED, REGISTERED, owner=True),
    "lock": Transition(REGISTERED, LOCKED, order_id=True),
    "unlock": Transition(LOCKED, REGISTERED),
    "pledge": Transition(REGISTERED, PLEDGED, pledgee=True),
    "release": Transition(PLEDGED, REGISTERED),
    "freeze": Transition(REGISTERED, FROZEN),
    "unfreeze": Transition(FROZEN, REGISTERED),
    "cancel": Transition(REGISTERED, CANCELLED),
    "outbound": Transition(REGISTERED, RELEASING),  # a release order is issued
    "outbound_lapse": Transition(RELEASING, REGISTERED),  # its pickup window closed unused, or the owner cancelled
    "pickup": Transition(RELEASING, CANCELLED),  # the goods left the warehouse
    "reinspect": Transition(FROZEN, FROZEN),  # a disputed delivery's new inspection (its snapshot)
    "expire": Transition(REGISTERED, EXPIRED),  # its validity ended (a clock timer)
    "outbound_expired": Transition(EXPIRED, RELEASING),  # expired goods may still be withdrawn
    "outbound_lapse_expired": Transition(RELEASING, EXPIRED),
    "tender": Transition(REGISTERED, TENDERED),  # a short tenders it for a forward's delivery
    "tender_return": Transition(TENDERED, REGISTERED),  # not delivered (surplus, or the long defaulted)
    "tender_deliver": Transition(TENDERED, REGISTERED, owner=True),  # delivered to the long, paid (DvP)
    "offer": Transition(REGISTERED, OFFERED),  # into an auction lot or a listing
    "withdraw_offer": Transition(OFFERED, REGISTERED),  # unsold, outbid, expired, forfeited: back to its owner
    "award": Transition(OFFERED, REGISTERED, owner=True),  # settled by DvP: to the buyer
}
STATES = frozenset((REGISTERED, LOCKED, PLEDGED, FROZEN, RELEASING, EXPIRED, CANCELLED, TENDERED, OFFERED))


def transition(receipt: Receipt, action: str) -> Transition:
    """The table row of ``action``; ValueError if it is unknown or cannot start from the
    receipt's state (callers check first: reaching this is a bug, not a refusal)."""
    row = TRANSITIONS.get(action)
    if row is None:
        raise ValueError(f"unknown receipt action {action}")
    if receipt.state != row.start:
        raise ValueError(f"{action} of receipt {receipt.receipt_id} needs {row.start}, it is {receipt.state}")
    return row


def in_issue_order(receipt_ids: Iterable[str]) -> list[str]:
    """Receipt ids ("WR" and a number of 8 digits or more) sorted in the order they were issued."""
    ids = sorted(receipt_ids)  # text order is issue order while the numbers have one width
    if len(set(map(len, ids))) > 1:
        ids.sort(key=lambda r: (len(r), r))
    return ids


def enter(receipt: Receipt, event: ReceiptEvent) -> None:
    """Apply one non-issue event to ``receipt`` by the transition table (fold and live alike)."""
    row = transition(receipt, event.action)
    if event.action == "reinspect" and event.receipt is not None:
        new = event.receipt
        receipt.quality, receipt.factors, receipt.quantity_kg = new.quality, new.factors, new.quantity_kg
    if row.owner:
        receipt.owner = event.counterparty
    receipt.state = row.state
    receipt.pledgee = event.counterparty if row.pledgee else ""
    receipt.order_id = event.order_id if row.order_id else 0
    receipt.version = event.version


def fold(history: Iterable[ReceiptEvent], base: Receipt | None = None) -> Receipt:
    """Rebuild a receipt from its events alone (after ``base``, the fold of earlier ones)."""
    receipt = None if base is None else msgspec.structs.replace(base)
    for e in history:
        if e.action == "issue":
            assert e.receipt is not None
            receipt = msgspec.structs.replace(e.receipt)
            receipt.version = e.version
        else:
            assert receipt is not None and e.version == receipt.version + 1, "history has a gap"
            enter(receipt, e)
    assert receipt is not None, "empty history"
    return receipt


# the code refusing an action from each state other than the one it starts from
_BUSY = {LOCKED: "RECEIPT_LOCKED", PLEDGED: "RECEIPT_PLEDGED", FROZEN: "RECEIPT_FROZEN",
         RELEASING: "RECEIPT_RELEASED_FOR_PICKUP", EXPIRED: "RECEIPT_EXPIRED", CANCELLED: "RECEIPT_CANCELLED",
         TENDERED: "RECEIPT_TENDERED", OFFERED: "RECEIPT_OFFERED"}
_NOT_IN = {LOCKED: "RECEIPT_NOT_LOCKED", PLEDGED: "RECEIPT_NOT_PLEDGED", FROZEN: "RECEIPT_NOT_FROZEN",
           RELEASING: "RECEIPT_NOT_RELEASED", EXPIRED: "RECEIPT_NOT_EXPIRED", TENDERED: "RECEIPT_NOT_TENDERED",
           OFFERED: "RECEIPT_NOT_OFFERED"}


class Registry:
    """All receipts, their histories and the delivery specs of receipt-backed instruments."""

    def __init__(self, specs: Mapping[str, DeliverySpec] | None = None) -> None:
        self.seq = 0
        self.next_number = 1
        self.receipts: dict[str, Receipt] = {}
        self.history: dict[str, list[ReceiptEvent]] = {}  # each receipt's newest events (all, when short)
        self.history_kept = HISTORY_KEPT  # a longer history keeps this many newest events in memory
        self.history_base: dict[str, Receipt] = {}  # receipt -> its fold before its first kept event
        self.trimmed = 0  # events that left memory (they are in SQL, receipt_events)
        self.certificates: set[str] = set()
        self.specs = specs if specs is not None else {}  # receipt-backed instruments: the catalogue's view
        self.by_order: dict[int, list[str]] = {}  # sell order id -> receipts it holds, delivery order
        self.free: dict[str, dict[str, None]] = {}  # owner -> its registered receipts (a sell picks from these)
        self.new_events: list[ReceiptEvent] = []  # since the last drain (for the batch write)
        self.expiry_rules: dict[str, ExpiryRule] = {}  # commodity -> how its receipts expire
        self.warned: set[str] = set()  # receipts whose owners were warned of expiry
        self.overdue: set[str] = set()  # past expiry while pledged, frozen or releasing: expire when free
        self.scheduled: list[tuple[int, ReceiptDue]] = []  # timers to set (drained by the exchange)
        self.notices: list[tuple[str, dict]] = []  # (member, message) for the private streams (output)
        self.now_ns = 0  # the time of the entry being applied (old crop is relative to its date)

    # -------------------------------------------------------------- commands

    def apply(self, cmd: ReceiptCommand, now_ns: int = 0) -> list[ReceiptEvent] | ReceiptRejected:
        """Apply one registry command at ``now_ns`` (the journal entry's time): its events, or a
        rejection that changed nothing."""
        if isinstance(cmd, IssueReceipt):
            return self._issue(cmd, now_ns)
        if isinstance(cmd, SetExpiryRule):
            rule = rule_of(cmd)
            if isinstance(rule, str):
                return ReceiptRejected("INVALID_RULE", rule)
            if cmd.commodity not in {c for c, _ in _TABLES}:
                return ReceiptRejected("UNKNOWN_COMMODITY", f"no commodity {cmd.commodity!r}")
            self.expiry_rules[cmd.commodity] = rule
            return []
        receipt = self.receipts.get(cmd.receipt_id)
        if receipt is None:
            return ReceiptRejected("RECEIPT_NOT_FOUND", f"no receipt {cmd.receipt_id}")
        if isinstance(cmd, TransferReceipt):
            return self._change(receipt, "transfer", cmd, now_ns, owner_only=True, counterparty=cmd.to)
        if isinstance(cmd, LockReceipt):
            return self._change(receipt, "lock", cmd, now_ns, owner_only=True)
        if isinstance(cmd, UnlockReceipt):
            if receipt.state == LOCKED and receipt.order_id:
                return ReceiptRejected("RECEIPT_BOUND_TO_ORDER",
                                       f"receipt backs open order {receipt.order_id}: cancel the order")
            return self._change(receipt, "unlock", cmd, now_ns, owner_only=True)
        if isinstance(cmd, PledgeReceipt):
            return self._change(receipt, "pledge", cmd, now_ns, owner_only=True, counterparty=cmd.lender)
        if isinstance(cmd, ReleaseReceipt):
            if receipt.state == PLEDGED and cmd.actor != receipt.pledgee:
                return ReceiptRejected("NOT_PLEDGEE", "only the lender holding the pledge can release it")
            return self._change(receipt, "release", cmd, now_ns)
        if isinstance(cmd, FreezeReceipt):
            return self._change(receipt, "freeze", cmd, now_ns)
        if isinstance(cmd, UnfreezeReceipt):
            return self._change(receipt, "unfreeze", cmd, now_ns)
        if isinstance(cmd, CancelReceipt):
            if cmd.actor != receipt.warehouse:
                return ReceiptRejected("NOT_WAREHOUSE", "only the issuing warehouse records a withdrawal")
            if not cmd.pickup_code:
                return ReceiptRejected("PICKUP_CODE_REQUIRED", "a withdrawal needs the owner's pickup code")
            return self._change(receipt, "cancel", cmd, now_ns, detail=f"pickup {cmd.pickup_code}")
        raise TypeError(f"not a registry command: {type(cmd).__name__}")

    def issue(self, cmd: IssueReceipt, now_ns: int, detail: str = "",
              crop_year: int = 0) -> list[ReceiptEvent] | ReceiptRejected:
        """Issue a receipt (``detail`` on its issue event: the declaration it registers, which
        may give the crop year)."""
        return self._issue(cmd, now_ns, detail, crop_year)

    def _issue(self, cmd: IssueReceipt, now_ns: int, detail: str = "",
               crop_year: int = 0) -> list[ReceiptEvent] | ReceiptRejected:
        if not cmd.certificate_no or cmd.certificate_no in self.certificates:
            return ReceiptRejected("DUPLICATE_CERTIFICATE", f"certificate {cmd.certificate_no!r} is already registered")
        try:
            factors = grade(cmd.quality)
        except Refused as e:
            return ReceiptRejected("QUALITY_REFUSED", e.reason)
        quantity = issued_weight_kg(cmd.quality, cmd.quantity_kg)
        if not 0 < quantity <= MAX_QUANTITY_KG:
            return ReceiptRejected("INVALID_QUANTITY", f"quantity_kg must be 1 to {MAX_QUANTITY_KG}")
        commodity = commodity_of(cmd.quality)
        rule = self.expiry_rules.get(commodity)
        crop, expires = crop_year_and_expiry(rule, crop_year, now_ns) if rule else (0, 0)
        if rule and expires <= now_ns:
            return ReceiptRejected("RECEIPT_EXPIRED", f"goods of crop year {crop} are past their validity")
        receipt_id = f"WR{self.next_number:08d}"
        self.next_number += 1
        receipt = Receipt(receipt_id=receipt_id, commodity=commodity, warehouse=cmd.actor,
                          certificate_no=cmd.certificate_no, inspector=cmd.inspector, owner=cmd.owner,
                          quantity_kg=quantity, quality=cmd.quality, factors=factors, issued_ts_ns=now_ns,
                          version=1, crop_year=crop, expires_ns=expires)
        if rule:
            warn_ns = expires - rule.warn_days * DAY_NS
            if rule.warn_days and warn_ns > now_ns:
                self.scheduled.append((warn_ns, ReceiptDue(receipt_id=receipt_id, kind="warn")))
            self.scheduled.append((expires, ReceiptDue(receipt_id=receipt_id, kind="expire")))
        self.receipts[receipt_id] = receipt
        self._refile(receipt, "", "")
        self.certificates.add(cmd.certificate_no)
        self.history[receipt_id] = []
        return [self._record(receipt_id, 1, "issue", cmd.actor, now_ns, counterparty=cmd.owner, detail=detail,
                             snapshot=msgspec.structs.replace(receipt))]

    def _change(self, receipt: Receipt, action: str, cmd, now_ns: int, owner_only: bool = False,
                counterparty: str = "", detail: str = "") -> list[ReceiptEvent] | ReceiptRejected:
        if (rejection := self._refusal(receipt, action, cmd.actor, owner_only, counterparty)) is not None:
            return rejection
        return [self._move(receipt, action, cmd.actor, now_ns, counterparty, 0, detail)]

    def _refusal(self, receipt: Receipt, action: str, actor: str, owner_only: bool,
                 counterparty: str) -> ReceiptRejected | None:
        """Why a command may not take ``action`` on the receipt, or None."""
        start = TRANSITIONS[action].start
        if receipt.state != start:
            code = _BUSY.get(receipt.state) if receipt.state != REGISTERED else _NOT_IN[start]
            return ReceiptRejected(code, f"receipt {receipt.receipt_id} is {receipt.state}")
        if receipt.receipt_id in self.overdue and action in ("transfer", "lock", "pledge", "freeze", "tender"):
            # past its validity, registered again until the end of day expires it
            return ReceiptRejected("RECEIPT_EXPIRED", f"receipt {receipt.receipt_id} is past its validity")
        if owner_only and actor != receipt.owner:
            return ReceiptRejected("NOT_OWNER", f"receipt {receipt.receipt_id} belongs to another member")
        if counterparty == receipt.owner or (not counterparty and action in ("transfer", "pledge")):
            return ReceiptRejected("INVALID_COUNTERPARTY", "name a counterparty other than the owner")
        return None

    def _move(self, receipt: Receipt, action: str, actor: str, ts_ns: int, counterparty: str = "",
              order_id: int = 0, detail: str = "", trade_id: int = 0) -> ReceiptEvent:
        """Record a checked action's event and apply it to the live receipt by the transition
        table, as ``fold`` does; ValueError, before anything changes, if the table forbids it."""
        transition(receipt, action)
        event = self._record(receipt.receipt_id, receipt.version + 1, action, actor, ts_ns, counterparty, order_id,
                             detail, trade_id=trade_id)
        owner, state = receipt.owner, receipt.state
        enter(receipt, event)
        self._refile(receipt, owner, state)
        return event

    def _refile(self, receipt: Receipt, owner: str, state: str) -> None:
        """Keep ``free`` true after ``receipt`` moved from ``owner`` and ``state``."""
        if state == REGISTERED:
            mine = self.free[owner]
            del mine[receipt.receipt_id]
            if not mine:
                del self.free[owner]
        if receipt.state == REGISTERED:
            self.free.setdefault(receipt.owner, {})[receipt.receipt_id] = None

    def _record(self, receipt_id: str, version: int, action: str, actor: str, ts_ns: int, counterparty: str = "",
                order_id: int = 0, detail: str = "", snapshot: Receipt | None = None,
                trade_id: int = 0) -> ReceiptEvent:
        self.seq += 1
        event = ReceiptEvent(seq=self.seq, receipt_id=receipt_id, version=version, action=action, actor=actor,
                             ts_ns=ts_ns, counterparty=counterparty, order_id=order_id, detail=detail, receipt=snapshot,
                             trade_id=trade_id)
        history = self.history[receipt_id]
        history.append(event)
        if len(history) > 2 * self.history_kept:
            self._trim(receipt_id, history)
        self.new_events.append(event)
        return event

    def _trim(self, receipt_id: str, history: list[ReceiptEvent]) -> None:
        """Keep the newest ``history_kept`` events; fold the older ones into the base."""
        cut = len(history) - self.history_kept
        self.history_base[receipt_id] = fold(history[:cut], self.history_base.get(receipt_id))
        del history[:cut]
        self.trimmed += cut

    # -------------------------------------------------------------- moves other packages make

    def pledge(self, receipt_id: str, lender: str, actor: str, ts_ns: int, detail: str = "") -> ReceiptEvent:
        """Pledge a registered receipt to ``lender`` (the caller has checked owner and state)."""
        return self._move(self.receipts[receipt_id], "pledge", actor, ts_ns, counterparty=lender, detail=detail)

    def release(self, receipt_id: str, actor: str, ts_ns: int, detail: str = "") -> ReceiptEvent:
        """Release a pledged receipt to its owner (``actor``: the lender, consenting)."""
        return self._move(self.receipts[receipt_id], "release", actor, ts_ns, detail=detail)

    def seize(self, receipt_id: str, to: str, actor: str, ts_ns: int, detail: str = "") -> ReceiptEvent:
        """Transfer a registered receipt to ``to`` without its owner's instruction (a
        liquidation); recorded as a ``transfer``."""
        return self._move(self.receipts[receipt_id], "transfer", actor, ts_ns, counterparty=to, detail=detail)

    def hand_over(self, receipt_id: str, action: str, to: str, actor: str, ts_ns: int,
                  detail: str = "") -> ReceiptEvent:
        """Take a checked ``action`` that makes ``to`` the owner (a forward's delivery; ``award``
        of an auction or listing lot settled by DvP)."""
        return self._move(self.receipts[receipt_id], action, actor, ts_ns, counterparty=to, detail=detail)

    def refusal(self, receipt: Receipt, action: str, actor: str, owner_only: bool = False) -> ReceiptRejected | None:
        """Why ``actor`` may not take ``action`` (a table row) on the receipt now, or None."""
        return self._refusal(receipt, action, actor, owner_only, "")

    def move(self, receipt_id: str, action: str, actor: str, ts_ns: int, detail: str = "") -> ReceiptEvent:
        """Take a checked ``action`` without a counterparty (the warehouse's outbound moves)."""
        return self._move(self.receipts[receipt_id], action, actor, ts_ns, detail=detail)

    def reinspect(self, receipt_id: str, quality: Quality, quantity_kg: int, actor: str, ts_ns: int,
                  detail: str = "") -> ReceiptEvent:
        """Replace a frozen receipt's inspection (an upheld dispute; the caller graded it)."""
        receipt = self.receipts[receipt_id]
        transition(receipt, "reinspect")
        snapshot = msgspec.structs.replace(receipt, quality=quality, factors=grade(quality), quantity_kg=quantity_kg)
        event = self._record(receipt_id, receipt.version + 1, "reinspect", actor, ts_ns, detail=detail,
                             snapshot=snapshot)
        enter(receipt, event)
        return event

    # -------------------------------------------------------------- expiry

    def take_scheduled(self) -> list[tuple[int, ReceiptDue]]:
        """Timers to set for receipts issued since the last call."""
        scheduled, self.scheduled = self.scheduled, []
        return scheduled

    def warn(self, receipt_id: str) -> None:
        """Warn the owner that the receipt expires soon (a timer)."""
        r = self.receipts[receipt_id]
        self.warned.add(receipt_id)
        self.notices.append((r.owner, {"type": "receipt_expiring", "receipt_id": receipt_id, "state": r.state,
                                       "expires_ns": r.expires_ns, "pledgee": r.pledgee or None}))

    def expire(self, receipt_id: str, now_ns: int) -> ReceiptEvent | None:
        """Expire a receipt past its validity if it is registered; one held elsewhere (pledged,
        frozen, releasing) is overdue and expires when it is free (retried each end of day)."""
        r = self.receipts[receipt_id]
        if r.state == REGISTERED:
            self.overdue.discard(receipt_id)
            event = self._move(r, "expire", "exchange", now_ns, detail="validity ended")
            self.notices.append((r.owner, {"type": "receipt_expired", "receipt_id": receipt_id}))
            return event
        if r.state in (CANCELLED, EXPIRED):
            self.overdue.discard(receipt_id)
        else:
            self.overdue.add(receipt_id)
        return None

    def old_crop_discount(self, receipt: Receipt) -> int:
        """Fen per tonne an old-crop receipt is valued below its grade (0 if it is not old crop)."""
        rule = self.expiry_rules.get(receipt.commodity)
        if rule is None or not receipt.crop_year:
            return 0
        return rule.old_crop_discount if is_old_crop(rule, receipt.crop_year, local_date(self.now_ns)) else 0

    def premium(self, receipt: Receipt, table: PremiumTable | None) -> int:
        """Fen per tonne ``receipt`` is valued above the price: its grade's premium in ``table``
        (none without one) less any old-crop discount."""
        return (table.premium(receipt.factors) if table else 0) - self.old_crop_discount(receipt)

    def drain_events(self) -> list[ReceiptEvent]:
        """Events since the last call (the sequencer writes them with the batch)."""
        events, self.new_events = self.new_events, []
        return events

    # -------------------------------------------------------------- sell orders

    def spot_spec(self, commodity: str, instruments: Mapping) -> DeliverySpec | None:
        """The receipt-backed instrument a commodity is valued and sold on (the first by symbol)."""
        return next((spec for symbol, spec in sorted(self.specs.items())
                     if spec.commodity == commodity and symbol in instruments), None)

    def commodity_table(self, commodity: str, instruments: Mapping | None = None) -> PremiumTable | None:
        """The premium table a commodity's receipts are valued by: its spot instrument's (listed
        in ``instruments`` when given), else the commodity's first table by version; None if
        it has none."""
        spec = self.spot_spec(commodity, self.specs if instruments is None else instruments)
        table = _TABLES.get((commodity, spec.table)) if spec is not None else None
        return table or next((_TABLES[k] for k in sorted(_TABLES) if k[0] == commodity), None)

    def mark(self, receipt: Receipt, instruments: Mapping) -> tuple[str, int, int] | None:
        """(instrument, premium fen/t, value fen) of a receipt at its spot instrument's
        reference (settlement) price, or None if no instrument delivers its commodity."""
        spec = self.spot_spec(receipt.commodity, instruments)
        if spec is None:
            return None
        premium = self.premium(receipt, table_for(spec.commodity, spec.table))
        return spec.symbol, premium, value_fen(instruments[spec.symbol].ref_price, premium, receipt.quantity_kg)

    def why_not_deliverable(self, receipt: Receipt, spec: DeliverySpec) -> str | None:
        return deliverable(receipt.commodity, receipt.warehouse, receipt.factors, spec.commodity, spec.warehouses,
                           receipt.quantity_kg, spec.lot_kg, spec.tolerance_bps)

    def select_for_sale(self, owner: str, symbol: str, lots: int,
                        chosen: list[str] | None = None) -> list[str] | ReceiptRejected:
        """``lots`` receipts the owner may sell on ``symbol``: the ones named in ``chosen`` (all
        of them, exactly ``lots``), or else the owner's deliverable registered receipts in
        receipt-id order."""
        spec = self.specs[symbol]
        if chosen:
            if len(chosen) != lots or len(set(chosen)) != lots:
                return ReceiptRejected("RECEIPT_COUNT_MISMATCH", f"name exactly {lots} distinct receipts, one a lot")
            for receipt_id in chosen:
                receipt = self.receipts.get(receipt_id)
                if receipt is None or receipt.owner != owner:
                    return ReceiptRejected("RECEIPT_NOT_FOUND", f"you hold no receipt {receipt_id}")
                if (rejection := self._refusal(receipt, "lock", owner, True, "")) is not None:
                    return rejection
                if (why := self.why_not_deliverable(receipt, spec)) is not None:
                    return ReceiptRejected("NOT_DELIVERABLE", why)
            return list(chosen)
        receipts, overdue, free = self.receipts, self.overdue, []
        for receipt_id in in_issue_order(self.free.get(owner, ())):
            if receipt_id not in overdue and self.why_not_deliverable(receipts[receipt_id], spec) is None:
                free.append(receipt_id)
                if len(free) == lots:
                    break
        if len(free) < lots:
            return ReceiptRejected("INSUFFICIENT_RECEIPTS",
                                   f"{lots} deliverable receipts needed on {symbol}, {len(free)} free")
        return free[:lots]

    def lock_for_order(self, order_id: int, receipt_ids: list[str], actor: str, ts_ns: int) -> None:
        """Lock receipts (already checked by ``select_for_sale``) behind a sell order."""
        for receipt_id in receipt_ids:
            self._move(self.receipts[receipt_id], "lock", actor, ts_ns, order_id=order_id)
        self.by_order.setdefault(order_id, []).extend(receipt_ids)

    def deliver(self, order_id: int, lots: int, buyer: str, ts_ns: int, trade_id: int) -> list[str]:
        """Hand ``lots`` of a sell order's receipts to the buyer (first locked, first delivered)."""
        held = self.by_order.get(order_id, [])
        delivered, self.by_order[order_id] = held[:lots], held[lots:]
        for receipt_id in delivered:
            self._move(self.receipts[receipt_id], "deliver", "exchange", ts_ns, counterparty=buyer,
                       order_id=order_id, detail=f"trade {trade_id}", trade_id=trade_id)
        if not self.by_order[order_id]:
            del self.by_order[order_id]
        return delivered

    def unlock_order(self, order_id: int, keep: int, ts_ns: int) -> None:
        """Release a sell order's receipts beyond the first ``keep`` (0 on cancel or expiry)."""
        held = self.by_order.get(order_id, [])
        for receipt_id in held[keep:]:
            self._move(self.receipts[receipt_id], "unlock", "exchange", ts_ns, order_id=order_id,
                       detail="order closed" if not keep else "order reduced")
        if keep:
            self.by_order[order_id] = held[:keep]
        else:
            self.by_order.pop(order_id, None)

    def held_by(self, order_id: int) -> int:
        return len(self.by_order.get(order_id, ()))

    # -------------------------------------------------------------- invariants (tests and tools)

    def check(self) -> None:
        """Assert the registry's invariants (AssertionError naming the first one broken)."""
        assert self.history.keys() == self.receipts.keys(), "receipts and histories differ"
        assert len(self.receipts) == self.next_number - 1, "a receipt number is missing or reused"
        assert self.certificates == {r.certificate_no for r in self.receipts.values()} \
            and len(self.certificates) == len(self.receipts), "certificates are not one per receipt"
        for receipt_id, receipt in self.receipts.items():
            self._check_receipt(receipt_id, receipt)
        self._check_orders()
        free: dict[str, set[str]] = {}
        for r in self.receipts.values():
            if r.state == REGISTERED:
                free.setdefault(r.owner, set()).add(r.receipt_id)
        assert {owner: set(mine) for owner, mine in self.free.items()} == free, "the index of free receipts is wrong"
        for receipt_id in self.overdue:
            r = self.receipts[receipt_id]
            # registered again (released, unfrozen) it waits for the end of day's retry
            assert r.expires_ns and r.state not in (EXPIRED, CANCELLED), f"{receipt_id} wrongly overdue"
        for r in self.receipts.values():
            assert r.state != EXPIRED or r.expires_ns, f"{r.receipt_id} expired without a validity"
        seqs = sorted(e.seq for h in self.history.values() for e in h)
        assert len(seqs) + self.trimmed == self.seq and len(set(seqs)) == len(seqs) \
            and (not seqs or seqs[0] >= 1 and seqs[-1] <= self.seq), "registry event numbers have a gap"
        assert self.history_base.keys() <= self.receipts.keys(), "the base of an unknown receipt"
        assert all(symbol == spec.symbol for symbol, spec in self.specs.items()), "a spec is filed under another symbol"

    def _check_receipt(self, receipt_id: str, receipt: Receipt) -> None:
        history, base = self.history[receipt_id], self.history_base.get(receipt_id)
        assert receipt.receipt_id == receipt_id, f"{receipt_id} is filed under another id"
        first = base.version + 1 if base is not None else 1
        assert [e.version for e in history] == list(range(first, first + len(history))), \
            f"{receipt_id}: versions have a gap"
        assert len(history) <= 2 * self.history_kept, f"{receipt_id}: a history longer than memory keeps"
        assert all(e.receipt_id == receipt_id for e in history), f"{receipt_id}: another receipt's event"
        assert receipt.state in STATES, f"{receipt_id}: unknown state {receipt.state!r}"
        assert (receipt.state == PLEDGED) == bool(receipt.pledgee), f"{receipt_id}: pledged but no lender, or not"
        if receipt.order_id:
            assert receipt.state == LOCKED, f"{receipt_id}: held by order {receipt.order_id} but {receipt.state}"
            assert receipt_id in self.by_order.get(receipt.order_id, ()), \
                f"{receipt_id}: held by order {receipt.order_id}, which does not list it"
        try:
            folded = fold(history, base)
        except ValueError as e:
            raise AssertionError(f"{receipt_id}: its history breaks the transition table: {e}") from e
        assert folded == receipt, f"{receipt_id} is not the fold of its history"

    def _check_orders(self) -> None:
        held = [r for ids in self.by_order.values() for r in ids]
        assert len(held) == len(set(held)), "a receipt backs two orders"
        for order_id, ids in self.by_order.items():
            for receipt_id in ids:
                receipt = self.receipts.get(receipt_id)
                assert receipt is not None and receipt.state == LOCKED and receipt.order_id == order_id, \
                    f"order {order_id} lists {receipt_id}, which it does not hold locked"

    def state_hash(self) -> str:
        """Hex digest of the registry's mutable state: counters, specs, each receipt's
        changeable fields (inspection data is fixed at issue) and the receipts behind each
        sell order, in delivery order."""
        data = msgspec.msgpack.encode([
            self.seq, self.next_number, sorted(self.specs.items()),
            [(r.receipt_id, r.owner, r.state, r.pledgee, r.order_id, r.version, r.quantity_kg)
             for r in (self.receipts[k] for k in sorted(self.receipts))],
            sorted(self.by_order.items()),
            *([sorted(self.expiry_rules.items()), sorted(self.warned), sorted(self.overdue)]
              if self.expiry_rules else []),
        ])
        return hashlib.blake2b(data, digest_size=16).hexdigest()
