//! Queries on `signing_keys`. The private half is ciphertext here; only
//! `keys::store` decrypts it.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::signing_keys;

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub public_jwk: String,
    pub private_key: Option<Vec<u8>>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

pub fn list_keys(conn: &mut DbConnection) -> QueryResult<Vec<KeyRow>> {
    signing_keys::table.select(KeyRow::as_select()).order(signing_keys::created_at.asc()).load(conn)
}

pub fn insert_key(conn: &mut DbConnection, key: &KeyRow) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table).values(key).execute(conn).map(drop)
}

pub fn find_key(conn: &mut DbConnection, kid: &str) -> QueryResult<Option<KeyRow>> {
    signing_keys::table.find(kid).select(KeyRow::as_select()).first(conn).optional()
}

/// Every kid with its state: a cheap fingerprint of the key set, read every few seconds.
pub fn list_key_states(conn: &mut DbConnection) -> QueryResult<Vec<(String, String)>> {
    signing_keys::table.select((signing_keys::kid, signing_keys::state)).order(signing_keys::kid.asc()).load(conn)
}

/// `active` → `retired`. False if the key was no longer active (a concurrent rotation).
pub fn retire_key(conn: &mut DbConnection, kid: &str, now: i64, expires_at: i64) -> QueryResult<bool> {
    diesel::update(signing_keys::table.find(kid).filter(signing_keys::state.eq("active")))
        .set((
            signing_keys::state.eq("retired"),
            signing_keys::retired_at.eq(now),
            signing_keys::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// `next` → `active`. False if the key was no longer next.
pub fn activate_key(conn: &mut DbConnection, kid: &str, now: i64) -> QueryResult<bool> {
    diesel::update(signing_keys::table.find(kid).filter(signing_keys::state.eq("next")))
        .set((signing_keys::state.eq("active"), signing_keys::activated_at.eq(now)))
        .execute(conn)
        .map(|n| n == 1)
}

/// `from` → `revoked`, erasing the private half. False if the key was not in `from`.
pub fn revoke_key(conn: &mut DbConnection, kid: &str, from: &str, now: i64) -> QueryResult<bool> {
    diesel::update(signing_keys::table.find(kid).filter(signing_keys::state.eq(from)))
        .set((
            signing_keys::state.eq("revoked"),
            signing_keys::revoked_at.eq(now),
            signing_keys::private_key.eq(None::<Vec<u8>>),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Retired keys whose time in the JWKS is over.
pub fn list_expiring_keys(conn: &mut DbConnection, now: i64) -> QueryResult<Vec<KeyRow>> {
    signing_keys::table
        .filter(signing_keys::state.eq("retired").and(signing_keys::expires_at.le(now)))
        .select(KeyRow::as_select())
        .load(conn)
}

/// `retired` → `expired`, erasing the private half.
pub fn expire_key(conn: &mut DbConnection, kid: &str) -> QueryResult<bool> {
    diesel::update(signing_keys::table.find(kid).filter(signing_keys::state.eq("retired")))
        .set((signing_keys::state.eq("expired"), signing_keys::private_key.eq(None::<Vec<u8>>)))
        .execute(conn)
        .map(|n| n == 1)
}
