-- The journal is the record: every command the sequencer applied, in order, one batch per
-- transaction. Orders, trades and members are projections written in the same transaction,
-- for operators to query with SQL; a restart rebuilds memory from the journal alone.

CREATE TABLE journal (
    entry_no   bigint PRIMARY KEY,          -- gap-free, assigned by the sequencer
    batch_no   bigint NOT NULL,
    ts_ns      bigint NOT NULL,             -- gateway clock when the command was sequenced
    entry      bytea  NOT NULL              -- msgpack of gateway.journal.Entry
);

CREATE TABLE batches (
    batch_no   bigint PRIMARY KEY,
    last_entry bigint NOT NULL,
    engine_seq bigint NOT NULL,
    state_hash text   NOT NULL,             -- Engine.state_hash() after the batch
    committed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE members (
    member     text PRIMARY KEY,
    roles      text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    api_key    text PRIMARY KEY,
    member     text NOT NULL REFERENCES members(member),
    roles      text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
    -- no secret column: the secret is derived from the server's master key (gateway/auth.py)
);

CREATE TABLE orders (
    order_id        bigint PRIMARY KEY,
    member          text   NOT NULL,
    client_order_id text   NOT NULL,
    symbol          text   NOT NULL,
    side            text   NOT NULL,
    order_type      text   NOT NULL,
    time_in_force   text   NOT NULL,
    price           bigint NOT NULL,        -- fen per quote unit
    quantity        bigint NOT NULL,        -- lots
    cum_qty         bigint NOT NULL,
    leaves_qty      bigint NOT NULL,
    status          text   NOT NULL,
    updated_entry   bigint NOT NULL
);
CREATE UNIQUE INDEX orders_member_client ON orders (member, client_order_id);

CREATE TABLE trades (
    trade_id      bigint PRIMARY KEY,
    symbol        text   NOT NULL,
    price         bigint NOT NULL,
    quantity      bigint NOT NULL,
    buy_order_id  bigint NOT NULL,
    sell_order_id bigint NOT NULL,
    buyer         text   NOT NULL,
    seller        text   NOT NULL,
    aggressor     text   NOT NULL,
    entry_no      bigint NOT NULL
);
CREATE INDEX trades_symbol ON trades (symbol, trade_id);
