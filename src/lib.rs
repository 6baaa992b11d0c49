//! tessera: a token issuer that signs JWT access tokens with rotating
//! asymmetric keys (RS256, EdDSA) and publishes the public halves as a JWKS.
//!
//! Module map: `config` (TESSERA_* settings), `startup` (the HTTP application),
//! `routes` (the route table and handlers), `auth` (passwords, issuing and
//! verifying tokens, the bearer extractor), `keys` (key material, JWK encoding,
//! the in-memory key set, master-key encryption), `db` (one code path over
//! SQLite and PostgreSQL), `domain` (parsed input types), `cli` (subcommands).

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod routes;
pub mod startup;
pub mod state;
pub mod time;
