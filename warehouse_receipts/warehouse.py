"""The warehouse's own operations, a pure state machine beside the registry: outbound release
orders (出库单) and the pickup against their one-time code.

Outbound. The owner asks to withdraw a registered receipt; the exchange issues a release order
with a pickup window (default 10 days) and moves the receipt to ``released_for_pickup``: while
the order is open the receipt cannot be sold, pledged, transferred or frozen (the registry's
one-state rule does that). The pickup code is made by the gateway (``secrets``); only its
SHA-256 hex digest reaches this module and the journal. The issuing warehouse records the
pickup with the code (hashed by the gateway) and the weight that left: the receipt is
cancelled. A wrong code, a pickup after the window or by another warehouse is refused and
changes nothing. When the window closes unused (a clock timer, ``ReleaseDue``) the order
lapses and the receipt is registered again; the owner may cancel an open order before that
(``CancelRelease``), with the same effect.
"""

import hashlib
import hmac

import msgspec

from warehouse_receipts.dates import DAY_NS
from warehouse_receipts.registry import (
    EXPIRED,
    RELEASING,
    WEIGHT_TOLERANCE_BPS,
    Receipt,
    ReceiptRejected,
    Registry,
    weighs_as,
)

_OPTS = {"tag_field": "cmd", "kw_only": True, "gc": False}
DEFAULT_WINDOW_DAYS = 10
MAX_WINDOW_DAYS = 90
MAX_WEIGHT_KG = 10**9
RELEASE_STATES = ("open", "picked_up", "lapsed", "cancelled")
OPEN, PICKED_UP, LAPSED, CANCELLED_RELEASE = RELEASE_STATES


def is_digest(text: str) -> bool:
    """Whether ``text`` is a lowercase SHA-256 hex digest."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def code_digest(code: str) -> str:
    """The digest the gateway journals for a pickup code (case and dashes do not matter)."""
    return hashlib.sha256(code.replace("-", "").strip().upper().encode()).hexdigest()


# ------------------------------------------------------------------ commands

class RequestRelease(msgspec.Struct, tag="request_release", **_OPTS):
    """The owner asks to withdraw ``receipt_id``; ``reference`` makes a retry return the first
    order. ``code_hash`` is the SHA-256 hex digest of the pickup code the gateway made."""

    actor: str
    receipt_id: str
    reference: str
    code_hash: str
    window_days: int = DEFAULT_WINDOW_DAYS


class RecordPickup(msgspec.Struct, tag="record_pickup", **_OPTS):
    """The issuing warehouse records the goods leaving against the code (as its digest)."""

    actor: str
    release_id: int
    code_hash: str
    weight_kg: int


class CancelRelease(msgspec.Struct, tag="cancel_release", **_OPTS):
    """The owner no longer wants the goods out: an open release order is cancelled, the receipt
    is registered again (a retry gets the cancelled order back)."""

    actor: str
    release_id: int


WarehouseCommand = RequestRelease | RecordPickup | CancelRelease


class ReleaseDue(msgspec.Struct, tag="release_due", kw_only=True, gc=False, frozen=True):
    """A timer action: release order ``release_id``'s pickup window has closed."""

    release_id: int


# ------------------------------------------------------------------ state

class ReleaseOrder(msgspec.Struct, kw_only=True):
    """One release order; ``state`` is open, picked_up, lapsed or cancelled."""

    release_id: int
    receipt_id: str
    owner: str
    warehouse: str
    reference: str
    code_hash: str
    requested_ns: int
    deadline_ns: int
    state: str = OPEN
    closed_ns: int = 0
    weight_out_kg: int = 0


def _no(code: str, message: str) -> ReceiptRejected:
    return ReceiptRejected(code, message)


class Warehouse:
    """Release orders, by id and by (owner, reference)."""

    def __init__(self) -> None:
        self.releases: dict[int, ReleaseOrder] = {}
        self.by_reference: dict[tuple[str, str], int] = {}
        self.next_release = 1

    def apply(self, cmd: WarehouseCommand, registry: Registry, now_ns: int) -> ReleaseOrder | ReceiptRejected:
        """Apply one warehouse command: the release order it made or closed, or a refusal that
        changed nothing."""
        if isinstance(cmd, RequestRelease):
            return self._request(cmd, registry, now_ns)
        if isinstance(cmd, CancelRelease):
            return self._cancel(cmd, registry, now_ns)
        return self._pickup(cmd, registry, now_ns)

    def _request(self, cmd: RequestRelease, registry: Registry, now_ns: int) -> ReleaseOrder | ReceiptRejected:
        first = self.by_reference.get((cmd.actor, cmd.reference))
        if first is not None:
            order = self.releases[first]
            if order.receipt_id != cmd.receipt_id:
                return _no("DUPLICATE_REFERENCE", f"reference {cmd.reference!r} released {order.receipt_id}")
            return order
        if not cmd.reference:
            return _no("REFERENCE_REQUIRED", "name a reference so a retry returns the first order")
        if not is_digest(cmd.code_hash):
            return _no("INVALID_CODE", "code_hash is a SHA-256 hex digest")
        if not 1 <= cmd.window_days <= MAX_WINDOW_DAYS:
            return _no("INVALID_WINDOW", f"the pickup window is 1 to {MAX_WINDOW_DAYS} days")
        receipt = registry.receipts.get(cmd.receipt_id)
        if receipt is None:
            return _no("RECEIPT_NOT_FOUND", f"no receipt {cmd.receipt_id}")
        action = "outbound_expired" if receipt.state == EXPIRED else "outbound"  # expired goods still leave
        if (refusal := registry.refusal(receipt, action, cmd.actor, owner_only=True)) is not None:
            return refusal
        order = ReleaseOrder(release_id=self.next_release, receipt_id=receipt.receipt_id, owner=receipt.owner,
                             warehouse=receipt.warehouse, reference=cmd.reference, code_hash=cmd.code_hash,
                             requested_ns=now_ns, deadline_ns=now_ns + cmd.window_days * DAY_NS)
        self.next_release += 1
        self.releases[order.release_id] = order
        self.by_reference[(cmd.actor, cmd.reference)] = order.release_id
        registry.move(receipt.receipt_id, action, cmd.actor, now_ns,
                      detail=f"release {order.release_id}: pickup within {cmd.window_days} days")
        return order

    def _order(self, release_id: int, actor: str, party: str, why: str) -> ReleaseOrder | ReceiptRejected:
        """Release order ``release_id`` if ``actor`` is its ``party`` (``owner`` or ``warehouse``)."""
        order = self.releases.get(release_id)
        if order is None:
            return _no("RELEASE_NOT_FOUND", f"no release order {release_id}")
        if actor != getattr(order, party):
            return _no(f"NOT_{party.upper()}", why)
        return order

    def _pickup(self, cmd: RecordPickup, registry: Registry, now_ns: int) -> ReleaseOrder | ReceiptRejected:
        order = self._order(cmd.release_id, cmd.actor, "warehouse", "only the warehouse holding the goods records "
                                                                    "a pickup")
        if isinstance(order, ReceiptRejected):
            return order
        same_code = hmac.compare_digest(cmd.code_hash.encode(), order.code_hash.encode())
        if order.state == PICKED_UP and same_code and cmd.weight_kg == order.weight_out_kg:
            return order  # a retry of the recorded pickup
        if order.state == PICKED_UP:
            return _no("RELEASE_PICKED_UP", f"release order {order.release_id} was picked up already")
        if order.state == CANCELLED_RELEASE:
            return _no("RELEASE_CLOSED", f"release order {order.release_id} was cancelled by its owner")
        if order.state != OPEN or now_ns > order.deadline_ns:
            return _no("PICKUP_WINDOW_CLOSED", f"release order {order.release_id}'s pickup window has closed")
        if not same_code:
            return _no("WRONG_PICKUP_CODE", "the pickup code does not match the release order")
        if not 0 < cmd.weight_kg <= MAX_WEIGHT_KG:
            return _no("INVALID_QUANTITY", "weight_kg must be positive")
        kg = registry.receipts[order.receipt_id].quantity_kg
        if not weighs_as(cmd.weight_kg, kg):
            return _no("WEIGHT_OUT_OF_TOLERANCE", f"{cmd.weight_kg} kg out for a receipt of {kg} kg: more than "
                                                  f"{WEIGHT_TOLERANCE_BPS // 100} % apart")
        order.state, order.closed_ns, order.weight_out_kg = PICKED_UP, now_ns, cmd.weight_kg
        registry.move(order.receipt_id, "pickup", cmd.actor, now_ns,
                      detail=f"release {order.release_id}: {cmd.weight_kg} kg out")
        return order

    def _cancel(self, cmd: CancelRelease, registry: Registry, now_ns: int) -> ReleaseOrder | ReceiptRejected:
        order = self._order(cmd.release_id, cmd.actor, "owner", "only the owner who asked for the release cancels it")
        if isinstance(order, ReceiptRejected):
            return order
        if order.state == CANCELLED_RELEASE:
            return order  # a retry
        if order.state != OPEN:
            return _no("RELEASE_CLOSED", f"release order {order.release_id} is {order.state}")
        if now_ns > order.deadline_ns:  # as for a pickup: it lapses at the clock's next tick
            return _no("RELEASE_CLOSED", f"release order {order.release_id}'s pickup window has closed")
        self._close(order, CANCELLED_RELEASE, registry, cmd.actor, now_ns, "cancelled by the owner")
        return order

    def lapse(self, due: ReleaseDue, registry: Registry, now_ns: int) -> None:
        """The window of ``due.release_id`` closed (a timer): an unused order lapses."""
        order = self.releases.get(due.release_id)
        if order is None or order.state != OPEN:
            return
        self._close(order, LAPSED, registry, "exchange", now_ns, "pickup window closed")

    @staticmethod
    def _close(order: ReleaseOrder, state: str, registry: Registry, actor: str, now_ns: int, why: str) -> None:
        """An open order ends unused: the receipt is registered again (expired, if its validity ran out)."""
        order.state, order.closed_ns = state, now_ns
        receipt = registry.receipts[order.receipt_id]
        past = bool(receipt.expires_ns) and now_ns >= receipt.expires_ns
        if past:
            registry.overdue.discard(receipt.receipt_id)
        registry.move(order.receipt_id, "outbound_lapse_expired" if past else "outbound_lapse", actor, now_ns,
                      detail=f"release {order.release_id}: {why}")

    def open_release(self, receipt: Receipt) -> ReleaseOrder | None:
        return next((o for o in self.releases.values() if o.receipt_id == receipt.receipt_id and o.state == OPEN),
                    None)

    # -------------------------------------------------------------- invariants

    def check(self, registry: Registry) -> None:
        """Each open release order holds its receipt in ``released_for_pickup`` and each such
        receipt has exactly one open order; picked-up receipts are cancelled."""
        open_by_receipt: dict[str, int] = {}
        for order in self.releases.values():
            receipt = registry.receipts.get(order.receipt_id)
            assert receipt is not None, f"release {order.release_id} names no receipt"
            if order.state == OPEN:
                assert order.receipt_id not in open_by_receipt, f"{order.receipt_id} has two open releases"
                open_by_receipt[order.receipt_id] = order.release_id
                assert receipt.state == RELEASING, f"release {order.release_id} open but receipt {receipt.state}"
            elif order.state == PICKED_UP:
                assert receipt.state == "cancelled", f"release {order.release_id} picked up, receipt {receipt.state}"
        releasing = {r.receipt_id for r in registry.receipts.values() if r.state == RELEASING}
        assert releasing == set(open_by_receipt), "a receipt is released for pickup without an open order"
        assert all(self.releases[i].owner == o for (o, _), i in self.by_reference.items()), "a reference is misfiled"

    def state_hash(self) -> bytes:
        return msgspec.msgpack.encode([self.next_release, [self.releases[k] for k in sorted(self.releases)]])
