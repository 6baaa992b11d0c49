-- Who did what and when: key created/rotated/revoked/expired, role changed, user disabled.
CREATE TABLE audit_events (
    id      TEXT   PRIMARY KEY NOT NULL, -- UUIDv7: sorts by time
    at      BIGINT NOT NULL,
    actor   TEXT   NOT NULL,             -- a user id, "cli" or "system"
    action  TEXT   NOT NULL,
    subject TEXT   NOT NULL,             -- a kid or a user id
    details TEXT   NOT NULL              -- JSON object
);
CREATE INDEX audit_events_at ON audit_events (at);

-- Leases for jobs that must run on one instance at a time (compare-and-swap on holder).
CREATE TABLE leases (
    name       TEXT   PRIMARY KEY NOT NULL,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
INSERT INTO leases (name, holder, expires_at) VALUES ('key-maintenance', '', 0);
