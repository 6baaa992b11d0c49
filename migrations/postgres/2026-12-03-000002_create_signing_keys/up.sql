CREATE TABLE signing_keys (
    kid          TEXT   PRIMARY KEY NOT NULL, -- RFC 7638 thumbprint of the public key
    alg          TEXT   NOT NULL CHECK (alg IN ('RS256', 'EdDSA')),
    state        TEXT   NOT NULL CHECK (state IN ('next', 'active', 'retired', 'expired', 'revoked')),
    public_jwk   TEXT   NOT NULL,             -- the RFC 7638 members as JSON
    private_key  BYTEA,                       -- AES-256-GCM(PKCS#8), kid as AAD; NULL once expired
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at   BIGINT,
    expires_at   BIGINT,
    revoked_at   BIGINT
);
-- Exactly one signing key and one next key per algorithm, whatever races.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';
