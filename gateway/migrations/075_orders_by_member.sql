-- GET /v1/orders?status=all reads a member's newest orders a page at a time (limit, before):
-- an index on (member, order_id) serves it without reading every order the member placed.
CREATE INDEX orders_member_id ON orders (member, order_id);
