"""The whole exchange as one pure, deterministic state machine.

``ExchangeState.apply(entry, entry_no, now_ns)`` folds one journal entry into the engine (books),
the receipt registry, clearing (ledger, holds, financing), the order views and market
information, through the pipeline's stages (risk → match → receipts → clearing → views). It
does no I/O and reads no clock: the time of every entry is the sequencer's batch time, taken
from the journal. So live sequencing and a replay of the journal reach the same state, which
``state_hash()`` proves. Imports go down only: gateway → exchange → clearing →
warehouse_receipts → engine.
"""
