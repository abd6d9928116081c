-- One batch, one statement: the sequencer passes the batch's rows as arrays and this function
-- writes them all. A single statement is its own transaction, so a batch costs one round trip
-- and one WAL flush. The state hash is recorded only on checkpoint batches (NULL otherwise).

ALTER TABLE batches ALTER COLUMN state_hash DROP NOT NULL;

CREATE FUNCTION commex_commit_batch(
    j_entry bigint[], j_batch bigint, j_ts bigint, j_payload bytea[],
    o_id bigint[], o_member text[], o_coid text[], o_symbol text[], o_side text[], o_type text[], o_tif text[],
    o_price bigint[], o_qty bigint[], o_cum bigint[], o_leaves bigint[], o_status text[], o_entry bigint[],
    t_id bigint[], t_symbol text[], t_price bigint[], t_qty bigint[], t_buy bigint[], t_sell bigint[],
    t_buyer text[], t_seller text[], t_aggressor text[], t_entry bigint[],
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
    INSERT INTO batches (batch_no, last_entry, engine_seq, state_hash) VALUES (j_batch, b_last, b_seq, b_hash);
END $$;
