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
