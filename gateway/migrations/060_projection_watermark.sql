-- The projector (gateway/projector.py) writes the projections (orders, trades, receipts,
-- receipt events, transfers, accounts, settlement reports) behind the journal, in large
-- batches; this one row says how far: every journal entry up to entry_no is projected. It is
-- updated in the projector's transaction, so the row and the projections never disagree.
-- Before this version a batch wrote its projections with its journal rows, so a journal
-- migrated here is projected through its end.
CREATE TABLE projection_watermark (
    id       integer PRIMARY KEY CHECK (id = 1),
    entry_no bigint NOT NULL
);
INSERT INTO projection_watermark SELECT 1, coalesce(max(last_entry), 0) FROM batches;
