-- The clearing ledger: accounts change only in their debit and credit totals; transfers are
-- immutable. Settlement reports are kept per trading day. All are written by the batch
-- statement, with the journal entries that caused them.

CREATE TABLE accounts (
    account_id text PRIMARY KEY,
    debits     bigint NOT NULL CHECK (debits >= 0),
    credits    bigint NOT NULL CHECK (credits >= 0)
);

CREATE TABLE transfers (
    transfer_id bigint PRIMARY KEY,
    debit       text   NOT NULL,
    credit      text   NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    code        text   NOT NULL,
    ref         text   NOT NULL,
    ts_ns       bigint NOT NULL,
    CHECK (debit <> credit)
);
CREATE INDEX transfers_debit ON transfers (debit);
CREATE INDEX transfers_credit ON transfers (credit);
CREATE INDEX transfers_ref ON transfers (ref);

CREATE TABLE settlement_reports (
    day    integer PRIMARY KEY,
    ts_ns  bigint NOT NULL,
    report jsonb  NOT NULL
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
    x_id bigint[], x_debit text[], x_credit text[], x_amount bigint[], x_code text[], x_ref text[], x_ts bigint[],
    a_id text[], a_debits bigint[], a_credits bigint[],
    s_day integer[], s_ts bigint[], s_report text[],
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
    INSERT INTO transfers (transfer_id, debit, credit, amount, code, ref, ts_ns)
        SELECT * FROM unnest(x_id, x_debit, x_credit, x_amount, x_code, x_ref, x_ts);
    INSERT INTO accounts (account_id, debits, credits)
        SELECT * FROM unnest(a_id, a_debits, a_credits)
    ON CONFLICT (account_id) DO UPDATE SET debits = EXCLUDED.debits, credits = EXCLUDED.credits;
    INSERT INTO settlement_reports (day, ts_ns, report)
        SELECT d, t, r::jsonb FROM unnest(s_day, s_ts, s_report) AS u(d, t, r);
    INSERT INTO batches (batch_no, last_entry, engine_seq, state_hash) VALUES (j_batch, b_last, b_seq, b_hash);
END $$;
