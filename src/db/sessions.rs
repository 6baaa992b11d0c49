//! Queries on `refresh_families`, `refresh_tokens` and `revoked_access_tokens`.
//! Tokens appear here only as hashes.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{refresh_families, refresh_tokens, revoked_access_tokens};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_families)]
pub struct FamilyRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub token_hash: String,
    pub family_id: String,
    pub created_at: i64,
    /// Unix milliseconds.
    pub used_at_ms: Option<i64>,
    pub successor_hash: Option<String>,
}

pub fn insert_family(conn: &mut DbConnection, family: &FamilyRow) -> QueryResult<()> {
    diesel::insert_into(refresh_families::table).values(family).execute(conn).map(drop)
}

pub fn find_family(conn: &mut DbConnection, id: &str) -> QueryResult<Option<FamilyRow>> {
    refresh_families::table.find(id).select(FamilyRow::as_select()).first(conn).optional()
}

pub fn insert_refresh(conn: &mut DbConnection, token: &RefreshRow) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table).values(token).execute(conn).map(drop)
}

pub fn find_refresh(conn: &mut DbConnection, token_hash: &str) -> QueryResult<Option<RefreshRow>> {
    refresh_tokens::table.find(token_hash).select(RefreshRow::as_select()).first(conn).optional()
}

/// Marks a token used, naming its successor. The affected-row count decides
/// which of two concurrent refreshes rotates it: true for exactly one.
pub fn mark_used(conn: &mut DbConnection, token_hash: &str, now_ms: i64, successor_hash: &str) -> QueryResult<bool> {
    diesel::update(refresh_tokens::table.find(token_hash).filter(refresh_tokens::used_at_ms.is_null()))
        .set((refresh_tokens::used_at_ms.eq(now_ms), refresh_tokens::successor_hash.eq(successor_hash)))
        .execute(conn)
        .map(|n| n == 1)
}

/// Locks a live family's row for the rest of the transaction (a no-op
/// update), so a concurrent logout-all waits for this refresh to commit.
/// False if the family is revoked.
pub fn lock_live_family(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::update(refresh_families::table.find(id).filter(refresh_families::revoked_at.is_null()))
        .set(refresh_families::revoked_at.eq(None::<i64>))
        .execute(conn)
        .map(|n| n == 1)
}

pub fn revoke_family(conn: &mut DbConnection, id: &str, now: i64) -> QueryResult<bool> {
    diesel::update(refresh_families::table.find(id).filter(refresh_families::revoked_at.is_null()))
        .set(refresh_families::revoked_at.eq(now))
        .execute(conn)
        .map(|n| n == 1)
}

/// Ends every session of a user; returns how many were live.
pub fn revoke_user_families(conn: &mut DbConnection, user_id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        refresh_families::table
            .filter(refresh_families::user_id.eq(user_id).and(refresh_families::revoked_at.is_null())),
    )
    .set(refresh_families::revoked_at.eq(now))
    .execute(conn)
}

/// Adds an access token's `jti` to the deny list until its `exp`. Idempotent.
pub fn deny_access_token(conn: &mut DbConnection, jti: &str, expires_at: i64) -> QueryResult<()> {
    match diesel::insert_into(revoked_access_tokens::table)
        .values((revoked_access_tokens::jti.eq(jti), revoked_access_tokens::expires_at.eq(expires_at)))
        .execute(conn)
    {
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(()),
        other => other.map(drop),
    }
}

pub fn is_access_token_denied(conn: &mut DbConnection, jti: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(revoked_access_tokens::table.find(jti))).get_result(conn)
}

/// Forgets deny-list entries and sessions that can no longer matter. A
/// revoked access token is still inside the verifier's leeway for 30 s after
/// its `exp`, so its entry is kept that much longer.
pub fn purge_expired(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    let cutoff = now - crate::auth::verify::LEEWAY_SECS - 1;
    let denied = diesel::delete(revoked_access_tokens::table.filter(revoked_access_tokens::expires_at.lt(cutoff)))
        .execute(conn)?;
    let families =
        diesel::delete(refresh_families::table.filter(refresh_families::expires_at.lt(now))).execute(conn)?;
    Ok(denied + families)
}
