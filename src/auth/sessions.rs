//! Refresh tokens (SPEC §2): opaque, 256 random bits, stored only as SHA-256
//! hashes, one family per login, rotated on every use.
//!
//! The successor of a token is `HMAC(key derived from the master key, token)`,
//! so a retry of the same refresh within TESSERA_REFRESH_GRACE gets the same
//! successor without any plaintext token being stored, and two concurrent
//! refreshes can never hand out two different live successors: the one
//! conditional UPDATE that marks the token used decides the winner, and the
//! loser derives the very same successor. A used token presented after the
//! grace (or after its successor was used) is reuse: the family is revoked
//! (RFC 9700 §4.14).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::{SecureRandom, SystemRandom};

use super::AccessClaims;
use crate::db::sessions::{self as q, FamilyRow, RefreshRow};
use crate::db::users::{UserRow, find_user};
use crate::db::{DbConnection, DbError, write_txn};

/// Hex SHA-256 of a token: what the database stores.
pub fn hash_token(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random token: 32 bytes, base64url.
pub fn random_token() -> Result<String, DbError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| DbError::Connect("the system RNG failed".into()))?;
    Ok(B64.encode(bytes))
}

/// The successor of `token`: deterministic, unguessable without the key.
pub fn successor(key: &ring::hmac::Key, token: &str) -> String {
    B64.encode(ring::hmac::sign(key, token.as_bytes()).as_ref())
}

/// Starts a session (a family) for a user; returns its first refresh token.
pub fn start_session(conn: &mut DbConnection, user_id: &str, ttl_secs: i64) -> Result<String, DbError> {
    let now = crate::time::now();
    let family = FamilyRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_owned(),
        created_at: now,
        expires_at: now + ttl_secs,
        revoked_at: None,
    };
    let token = random_token()?;
    let row = RefreshRow {
        token_hash: hash_token(&token),
        family_id: family.id.clone(),
        created_at: now,
        used_at_ms: None,
        successor_hash: None,
    };
    write_txn(conn, |c| -> Result<(), DbError> {
        q::insert_family(c, &family)?;
        q::insert_refresh(c, &row)?;
        Ok(())
    })?;
    Ok(token)
}

/// What a refresh came to.
#[derive(Debug)]
pub enum Refresh {
    /// The successor token (new, or the same one again within the grace) and
    /// the claims of the access token to sign with it.
    Rotated { token: String, claims: Box<AccessClaims> },
    /// Unknown, expired, revoked, or the user is disabled.
    Invalid,
    /// A used token came back after the grace: the family is now revoked.
    Reused,
}

/// Rotates `presented`. Runs in one write transaction; a `Reused` outcome
/// commits the family's revocation. The access token's claims are made by
/// `claims_for` inside the transaction, so their time (the UUIDv7 `jti`)
/// precedes the commit: a logout-all that commits later cuts them off, and
/// one that commits earlier leaves nothing to refresh (the family row is
/// locked for the duration).
pub fn refresh(
    conn: &mut DbConnection,
    presented: &str,
    key: &ring::hmac::Key,
    grace_secs: i64,
    claims_for: impl Fn(&UserRow) -> AccessClaims,
) -> Result<Refresh, DbError> {
    let hash = hash_token(presented);
    let next = successor(key, presented);
    let next_hash = hash_token(&next);
    write_txn(conn, |c| {
        let now = crate::time::now();
        let Some(mut token) = q::find_refresh(c, &hash)? else { return Ok(Refresh::Invalid) };
        let Some(family) = q::find_family(c, &token.family_id)? else { return Ok(Refresh::Invalid) };
        if family.expires_at <= now || !q::lock_live_family(c, &family.id)? {
            return Ok(Refresh::Invalid);
        }
        let Some(user) = find_user(c, &family.user_id)?.filter(|u| u.disabled_at.is_none()) else {
            return Ok(Refresh::Invalid);
        };
        let now_ms = crate::time::now_ms();
        if token.used_at_ms.is_none() {
            if q::mark_used(c, &hash, now_ms, &next_hash)? {
                let row = RefreshRow {
                    token_hash: next_hash,
                    family_id: family.id,
                    created_at: now,
                    used_at_ms: None,
                    successor_hash: None,
                };
                q::insert_refresh(c, &row)?;
                return Ok(Refresh::Rotated { token: next, claims: Box::new(claims_for(&user)) });
            }
            // Another refresh of this token committed first: look again.
            token = q::find_refresh(c, &hash)?.ok_or(diesel::result::Error::NotFound)?;
        }
        let used_at_ms = token.used_at_ms.unwrap_or(now_ms);
        let successor_unused = q::find_refresh(c, &next_hash)?.is_some_and(|s| s.used_at_ms.is_none());
        // Within the grace means less than TESSERA_REFRESH_GRACE after the first use: 0 turns it off.
        let within_grace = now_ms - used_at_ms < grace_secs * 1000;
        if within_grace && successor_unused && token.successor_hash.as_deref() == Some(&next_hash) {
            return Ok(Refresh::Rotated { token: next, claims: Box::new(claims_for(&user)) });
        }
        q::revoke_family(c, &family.id, now)?;
        log::warn!("refresh token reuse in family {} of user {}: family revoked", family.id, family.user_id);
        Ok(Refresh::Reused)
    })
}

/// The family a refresh token belongs to, if it is a known token.
pub fn family_of(conn: &mut DbConnection, presented: &str) -> Result<Option<FamilyRow>, DbError> {
    let Some(token) = q::find_refresh(conn, &hash_token(presented))? else { return Ok(None) };
    Ok(q::find_family(conn, &token.family_id)?)
}

/// Ends every session of a user and every access token issued so far
/// (logout-all, password change, disabling).
pub fn end_all_sessions(conn: &mut DbConnection, user_id: &str) -> Result<(), DbError> {
    let now = crate::time::now();
    write_txn(conn, |c| -> Result<(), DbError> {
        q::revoke_user_families(c, user_id, now)?;
        crate::db::users::invalidate_tokens(c, user_id, now)?;
        Ok(())
    })
}
