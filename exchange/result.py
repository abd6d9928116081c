"""What one command did, as the sequencer hands it back to the caller."""

from clearing.core import ClearingRejected
from clearing.escrow import SupplyRejected
from clearing.financing import FinancingRejected
from clearing.forwards import ForwardRejected
from engine import Event
from exchange.views import OrderRecord
from warehouse_receipts.registry import ReceiptRejected

Refusal = ReceiptRejected | ClearingRejected | FinancingRejected | ForwardRejected | SupplyRejected


class Result:
    """Engine events, the order view a new order created, and the outcome of the non-engine
    step (receipt events, a spec, a report, or a refusal). ``duplicate`` marks a retry that
    returned a first answer: nothing was applied or journaled."""

    __slots__ = ("events", "view", "outcome", "duplicate")

    def __init__(self, events: list[Event], view: OrderRecord | None, outcome: object = None,
                 duplicate: bool = False) -> None:
        self.events = events
        self.view = view
        self.outcome = outcome
        self.duplicate = duplicate

    @property
    def rejection(self) -> Refusal | None:
        return self.outcome if isinstance(self.outcome, Refusal) else None
