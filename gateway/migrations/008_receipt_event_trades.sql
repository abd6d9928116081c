-- A delivery's receipt event names the trade it settled in a typed column (reconciliation
-- joins on it instead of parsing "trade N" out of the detail text). Older rows are filled in.
ALTER TABLE receipt_events ADD COLUMN trade_id bigint NOT NULL DEFAULT 0;
UPDATE receipt_events SET trade_id = substr(detail, 7)::bigint WHERE action = 'deliver' AND detail ~ '^trade [0-9]+$';
CREATE INDEX receipt_events_trade_id ON receipt_events (trade_id) WHERE trade_id <> 0;
