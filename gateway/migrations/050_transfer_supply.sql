-- Bulk supply (auctions, listings) names the auction or listing a transfer is for in typed columns.
ALTER TABLE transfers ADD COLUMN auction_id bigint NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN listing_id bigint NOT NULL DEFAULT 0;
