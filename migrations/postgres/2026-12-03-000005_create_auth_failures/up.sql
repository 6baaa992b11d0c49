-- Failed logins per account and per client address, for slowing down and
-- then refusing guessing (SPEC §5). Shared by every instance.
CREATE TABLE auth_failures (
    subject      TEXT   PRIMARY KEY NOT NULL, -- "account:<normalised email>" or "addr:<ip>"
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL,
    last_failure BIGINT NOT NULL
);
