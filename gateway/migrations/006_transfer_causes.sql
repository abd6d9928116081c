-- Transfers name their cause in typed columns (order, trade, loan, funding reference) and the
-- pending transfer they belong to, instead of a string to parse; `ref` stays as a label for
-- people. Rows written before are filled in from their labels.
ALTER TABLE transfers
    ADD COLUMN order_id bigint NOT NULL DEFAULT 0,
    ADD COLUMN trade_id bigint NOT NULL DEFAULT 0,
    ADD COLUMN loan_id bigint NOT NULL DEFAULT 0,
    ADD COLUMN reference text NOT NULL DEFAULT '',
    ADD COLUMN pending_id bigint NOT NULL DEFAULT 0;
UPDATE transfers SET trade_id = substr(ref, 7)::bigint WHERE ref ~ '^trade:[0-9]+$';
UPDATE transfers SET order_id = substr(ref, 7)::bigint, pending_id = substr(ref, 7)::bigint
    WHERE ref ~ '^order:[0-9]+$';
UPDATE transfers SET loan_id = substr(ref, 6)::bigint WHERE ref ~ '^loan:[0-9]+$';
UPDATE transfers SET reference = substr(ref, strpos(ref, ':') + 1) WHERE ref ~ '^(deposit|withdraw):';
CREATE INDEX transfers_trade_id ON transfers (trade_id) WHERE trade_id <> 0;
