-- Storage fees and inbound deposits name the receipt they are for in a typed column.
ALTER TABLE transfers ADD COLUMN receipt_id text NOT NULL DEFAULT '';
CREATE INDEX transfers_receipt_id ON transfers (receipt_id) WHERE receipt_id <> '';
