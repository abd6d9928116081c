-- A client order id is unique per member per trading day (the exchange's calendar), not for
-- ever: yesterday's id may name a new order today. The unique index from 001 would make that
-- order's batch fail to commit; the core enforces the rule, SQL keeps a plain index to look
-- orders up by it.
DROP INDEX IF EXISTS orders_member_client;
CREATE INDEX orders_member_client ON orders (member, client_order_id);
