-- One family per login: every refresh token descended from it. Revoking the
-- family ends the session (logout, reuse detection, logout-all).
CREATE TABLE refresh_families (
    id         TEXT   PRIMARY KEY NOT NULL,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL, -- absolute: created_at + TESSERA_REFRESH_TTL
    revoked_at BIGINT
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);

-- Refresh tokens, stored only as SHA-256 hashes.
CREATE TABLE refresh_tokens (
    token_hash     TEXT   PRIMARY KEY NOT NULL, -- hex SHA-256 of the token
    family_id      TEXT   NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    used_at_ms     BIGINT,                      -- unix ms; set once, by the one refresh that rotates it
    successor_hash TEXT                         -- the token that replaced it
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Access tokens revoked before their expiry (RFC 7009), kept until then.
CREATE TABLE revoked_access_tokens (
    jti        TEXT   PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Service clients for client_credentials; the secret is stored as a SHA-256 hash.
CREATE TABLE clients (
    id          TEXT   PRIMARY KEY NOT NULL,
    name        TEXT   NOT NULL,
    secret_hash TEXT   NOT NULL,
    scopes      TEXT   NOT NULL, -- space-separated
    audience    TEXT,            -- NULL: TESSERA_AUDIENCE
    alg         TEXT   NOT NULL CHECK (alg IN ('RS256', 'EdDSA')),
    created_at  BIGINT NOT NULL
);
