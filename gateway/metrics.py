"""Prometheus metrics named as in DESIGN §7, on a registry of the app's own."""

import gc
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1)
GC_BUCKETS = (1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    """The exchange's metrics; ``registry`` is what ``/metrics`` renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.orders = Counter("exchange_orders_total", "Orders entered, by result", ["result"], registry=r)
        self.trades = Counter("exchange_trades_total", "Trades executed", registry=r)
        self.match_latency = Histogram("exchange_match_latency_seconds", "Engine time per command",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.commit_seconds = Histogram("exchange_journal_commit_seconds", "One batch's PostgreSQL transaction",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("exchange_journal_batch_commands", "Commands per committed batch",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=r)
        self.queue_length = Gauge("exchange_sequencer_queue_length", "Commands waiting for the sequencer",
                                  registry=r)
        self.book_depth = Gauge("exchange_book_depth", "Price levels in the book", ["symbol", "side"], registry=r)
        self.settlement_lag = Histogram("exchange_settlement_lag_seconds",
                                        "From a batch's oldest command entering the queue to its fills settled "
                                        "and committed", buckets=LATENCY_BUCKETS, registry=r)
        self.transfers = Counter("exchange_ledger_transfers_total", "Ledger transfers posted", registry=r)
        self.ws_clients = Gauge("exchange_ws_clients", "Connected WebSocket clients", registry=r)
        # high availability: which node accepts commands, and how far each has applied the journal
        self.primary = Gauge("exchange_primary", "1 on the sequencer that accepts commands, 0 on a standby",
                             registry=r)
        self.projection_lag = Gauge("exchange_projection_lag_entries", "Journal entries acknowledged and not yet "
                                    "in the SQL projections (gateway/projector.py)", registry=r)
        self.projection_delay = Histogram("exchange_projection_delay_seconds", "From a batch's commit to its "
                                          "projections' commit (the oldest batch of each projector write)",
                                          buckets=(*LATENCY_BUCKETS, 0.25, 0.5, 1.0, 2.5), registry=r)
        self.journal_entry = Gauge("exchange_journal_entry", "Last journal entry applied (a standby's lag is the "
                                   "primary's value minus its own)", registry=r)
        self.gc_pause = Histogram("process_gc_pause_seconds", "One collection by Python's cyclic garbage "
                                  "collector (the whole process stalls), by generation", ["generation"],
                                  buckets=GC_BUCKETS, registry=r)
        self._gc_started = 0.0

    def watch_gc(self) -> None:
        """Time every collection into ``gc_pause`` (until ``unwatch_gc``)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def unwatch_gc(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pause.labels(str(info["generation"])).observe(time.perf_counter() - self._gc_started)
