-- Snapshots of the whole exchange state (gateway/snapshots.py), written off the acknowledgement
-- path by a forked child every N entries or M minutes. A restart loads the latest one that
-- verifies (its state hash, recomputed after loading, equals state_hash) and replays the
-- journal after entry_no; the journal stays the record.
CREATE TABLE snapshots (
    entry_no   bigint PRIMARY KEY,          -- the last journal entry the state includes
    batch_no   bigint NOT NULL,             -- the batch that entry was committed in
    state_hash text   NOT NULL,             -- ExchangeState.state_hash() of the state saved
    format     text   NOT NULL,             -- encoding and code version: another one is not loaded
    bytes      bytea  NOT NULL,
    created    timestamptz NOT NULL DEFAULT now()
);
