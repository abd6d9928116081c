-- A hot standby (`commex serve --standby`, gateway/standby.py) follows the journal as it is
-- committed: every batch row notifies channel `commex_journal` with the batch's last entry
-- number. NOTIFY is delivered at commit, so a notification never names an invisible entry; the
-- standby also reads by entry number on a timer, so a lost notification only delays it.
CREATE OR REPLACE FUNCTION commex_journal_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('commex_journal', NEW.last_entry::text);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS batches_notify ON batches;
CREATE TRIGGER batches_notify AFTER INSERT ON batches FOR EACH ROW EXECUTE FUNCTION commex_journal_notify();
