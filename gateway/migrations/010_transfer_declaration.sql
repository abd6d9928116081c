-- Inbound deposits name the registration declaration they are for in a typed column.
ALTER TABLE transfers ADD COLUMN declaration_id bigint NOT NULL DEFAULT 0;
