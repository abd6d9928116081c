-- Warehouse receipts: the current state of each receipt (a projection) and the append-only
-- chain of custody. Both are written in the same statement as the journal batch that caused them.

CREATE TABLE receipts (
    receipt_id     text PRIMARY KEY,
    commodity      text   NOT NULL,
    warehouse      text   NOT NULL,
    owner          text   NOT NULL,
    state          text   NOT NULL,
    pledgee        text   NOT NULL,
    order_id       bigint NOT NULL,
    quantity_kg    bigint NOT NULL,
    certificate_no text   NOT NULL UNIQUE,
    factors        jsonb  NOT NULL,
    quality        jsonb  NOT NULL,
    version        integer NOT NULL
);
CREATE INDEX receipts_owner ON receipts (owner);

CREATE TABLE receipt_events (
    seq          bigint PRIMARY KEY,
    receipt_id   text    NOT NULL REFERENCES receipts(receipt_id) DEFERRABLE INITIALLY DEFERRED,
    version      integer NOT NULL,
    action       text    NOT NULL,
    actor        text    NOT NULL,
    ts_ns        bigint  NOT NULL,
    counterparty text    NOT NULL,
    order_id     bigint  NOT NULL,
    detail       text    NOT NULL,
    UNIQUE (receipt_id, version)
);

DROP FUNCTION commex_commit_batch;

CREATE FUNCTION commex_commit_batch(
    j_entry bigint[], j_batch bigint, j_ts bigint, j_payload bytea[],
    o_id bigint[], o_member text[], o_coid text[], o_symbol text[], o_side text[], o_type text[], o_tif text[],
    o_price bigint[], o_qty bigint[], o_cum bigint[], o_leaves bigint[], o_status text[], o_entry bigint[],
    t_id bigint[], t_symbol text[], t_price bigint[], t_qty bigint[], t_buy bigint[], t_sell bigint[],
    t_buyer text[], t_seller text[], t_aggressor text[], t_entry bigint[],
    r_id text[], r_commodity text[], r_warehouse text[], r_owner text[], r_state text[], r_pledgee text[],
    r_order bigint[], r_kg bigint[], r_cert text[], r_factors text[], r_quality text[], r_version integer[],
    e_seq bigint[], e_receipt text[], e_version integer[], e_action text[], e_actor text[], e_ts bigint[],
    e_counterparty text[], e_order bigint[], e_detail text[],
    b_last bigint, b_seq bigint, b_hash text
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO journal (entry_no, batch_no, ts_ns, entry)
        SELECT e, j_batch, j_ts, p FROM unnest(j_entry, j_payload) AS u(e, p);
    INSERT INTO orders (order_id, member, client_order_id, symbol, side, order_type, time_in_force, price, quantity,
                        cum_qty, leaves_qty, status, updated_entry)
        SELECT * FROM unnest(o_id, o_member, o_coid, o_symbol, o_side, o_type, o_tif, o_price, o_qty, o_cum,
                             o_leaves, o_status, o_entry)
    ON CONFLICT (order_id) DO UPDATE SET price = EXCLUDED.price, quantity = EXCLUDED.quantity,
        cum_qty = EXCLUDED.cum_qty, leaves_qty = EXCLUDED.leaves_qty, status = EXCLUDED.status,
        updated_entry = EXCLUDED.updated_entry;
    INSERT INTO trades (trade_id, symbol, price, quantity, buy_order_id, sell_order_id, buyer, seller, aggressor,
                        entry_no)
        SELECT * FROM unnest(t_id, t_symbol, t_price, t_qty, t_buy, t_sell, t_buyer, t_seller, t_aggressor, t_entry);
    INSERT INTO receipts (receipt_id, commodity, warehouse, owner, state, pledgee, order_id, quantity_kg,
                          certificate_no, factors, quality, version)
        SELECT i, c, w, o, s, p, ord, kg, cert, f::jsonb, q::jsonb, v
        FROM unnest(r_id, r_commodity, r_warehouse, r_owner, r_state, r_pledgee, r_order, r_kg, r_cert, r_factors,
                    r_quality, r_version) AS u(i, c, w, o, s, p, ord, kg, cert, f, q, v)
    ON CONFLICT (receipt_id) DO UPDATE SET owner = EXCLUDED.owner, state = EXCLUDED.state,
        pledgee = EXCLUDED.pledgee, order_id = EXCLUDED.order_id, version = EXCLUDED.version;
    INSERT INTO receipt_events (seq, receipt_id, version, action, actor, ts_ns, counterparty, order_id, detail)
        SELECT * FROM unnest(e_seq, e_receipt, e_version, e_action, e_actor, e_ts, e_counterparty, e_order, e_detail);
    INSERT INTO batches (batch_no, last_entry, engine_seq, state_hash) VALUES (j_batch, b_last, b_seq, b_hash);
END $$;
