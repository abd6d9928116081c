-- The first answer to each state-changing request sent with an Idempotency-Key, per member and
-- key: a retry gets it back instead of running the command again; the same key with another
-- request (method, path or body: its fingerprint) is refused. Kept 24 hours (gateway/idempotency.py).
CREATE TABLE idempotency_keys (
    member       text        NOT NULL,
    key          text        NOT NULL,
    fingerprint  bytea       NOT NULL,
    status       smallint    NOT NULL,
    content_type text        NOT NULL,
    body         bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
