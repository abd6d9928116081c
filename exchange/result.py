"""What one command did, as the sequencer hands it back to the caller."""

import msgspec

from clearing.core import ClearingRejected
from clearing.escrow import SupplyRejected
from clearing.financing import FinancingRejected
from clearing.forwards import ForwardRejected
from engine import Event
from exchange.views import OrderRecord
from warehouse_receipts.registry import ReceiptRejected

Refusal = ReceiptRejected | ClearingRejected | FinancingRejected | ForwardRejected | SupplyRejected


class Result(msgspec.Struct, gc=False):
    """Engine events, the order view a new order created, and the outcome of the non-engine
    step (receipt events, a spec, a report, or a refusal). ``duplicate`` marks a retry that
    returned a first answer: nothing was applied or journaled. (A Struct: one is made for
    every command, and a Struct's constructor costs a third of a Python ``__init__``.)"""

    events: list[Event]
    view: OrderRecord | None
    outcome: object = None
    duplicate: bool = False

    @property
    def rejection(self) -> Refusal | None:
        return self.outcome if isinstance(self.outcome, Refusal) else None
