CREATE TABLE users (
    id                 TEXT    PRIMARY KEY NOT NULL,
    -- the address as typed at signup (trimmed), for display
    email              TEXT    NOT NULL,
    -- NFC + Unicode lower case: what uniqueness and login use
    email_normalized   TEXT    NOT NULL UNIQUE,
    password_hash      TEXT    NOT NULL,
    role               TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    disabled_at        BIGINT,
    -- access tokens issued before this instant (unix MILLIseconds, compared
    -- with the time in the token's UUIDv7 jti) are rejected
    tokens_valid_after BIGINT  NOT NULL DEFAULT 0
);
