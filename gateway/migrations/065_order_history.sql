-- Bounded memory: closed orders and old fills leave the sequencer's memory and are read back
-- from these tables (gateway/order_history.py), so a row carries all an order's answer shows:
-- its average price and engine seq, and each trade its engine seq. Older rows keep 0 / NULL.
ALTER TABLE orders ADD COLUMN avg_price bigint;
ALTER TABLE orders ADD COLUMN seq bigint NOT NULL DEFAULT 0;
ALTER TABLE trades ADD COLUMN seq bigint NOT NULL DEFAULT 0;
CREATE INDEX trades_buy_order ON trades (buy_order_id);
CREATE INDEX trades_sell_order ON trades (sell_order_id);
CREATE INDEX trades_buyer ON trades (buyer, trade_id);
CREATE INDEX trades_seller ON trades (seller, trade_id);
