//! Key lifecycle (SPEC §3): rotation, revocation and expiry.
//!
//! Each change is one transaction that leaves exactly one `active` and one
//! `next` key per algorithm: conditional updates (`WHERE state = …`) make a
//! racing second rotation find nothing to change and roll back, the partial
//! unique indexes make a second active key impossible, and a process killed
//! mid-way leaves the old state because nothing is committed. New key
//! material is generated before the transaction begins.

use serde::Serialize;

use super::master::MasterKey;
use super::material::KeyMaterial;
use super::store::{StoreError, new_key_row};
use super::{Alg, KeyState};
use crate::db::audit::insert_event;
use crate::db::keys::{self as q, KeyRow};
use crate::db::{DbConnection, write_txn};

/// Seconds a retired key stays published beyond the access-token lifetime.
pub const RETIRED_GRACE_SECS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("the next {alg} key was published less than TESSERA_PREPUBLISH ago; it may sign from {}", crate::time::rfc3339(*ready_at))]
    NextKeyTooYoung { alg: Alg, ready_at: i64 },
    #[error("{0} is not one of the configured algorithms (TESSERA_ALGS)")]
    NotConfigured(String),
    #[error("no key has kid {0}")]
    NotFound(String),
    #[error("key {kid} is already {state}")]
    NotRevocable { kid: String, state: &'static str },
    #[error("the keys changed concurrently ({0}); retry")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("injected fault after step {0}")]
    Fault(u8),
}

impl From<diesel::result::Error> for LifecycleError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

/// For crash-safety tests: fail inside the transaction after the given step
/// (1 retire, 2 promote, 3 insert the new next key, 4 audit; 5 after a revocation).
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultAt(pub Option<u8>);

impl FaultAt {
    fn check(self, step: u8) -> Result<(), LifecycleError> {
        if self.0 == Some(step) { Err(LifecycleError::Fault(step)) } else { Ok(()) }
    }
}

/// What a lifecycle change needs besides the database.
pub struct KeyContext<'a> {
    pub master: &'a MasterKey,
    pub rsa_bits: usize,
    pub prepublish_secs: i64,
    pub access_ttl_secs: i64,
    /// Who asks: a user id, "cli" or "system"; recorded in the audit log.
    pub actor: &'a str,
    pub fault: FaultAt,
}

impl KeyContext<'_> {
    fn fresh_next_key(&self, alg: Alg, now: i64) -> Result<KeyRow, StoreError> {
        new_key_row(&KeyMaterial::generate(alg, self.rsa_bits)?, KeyState::Next, self.master, now)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rotated {
    pub alg: String,
    pub retired_kid: String,
    pub active_kid: String,
    pub next_kid: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    pub kid: String,
    pub alg: String,
    pub previous_state: String,
    /// Set when the revoked key was active: its algorithm was rotated.
    pub rotated: Option<Rotated>,
}

fn find_state(rows: &[KeyRow], alg: Alg, state: KeyState) -> Option<&KeyRow> {
    rows.iter().find(|r| r.alg == alg.as_str() && r.state == state.as_str())
}

/// How often a change that lost a race with another one is tried again.
const ATTEMPTS: usize = 3;

/// Runs `change` again while it loses races (`Conflict`): the emergency path
/// (revocation) must not hand a retry back to the admin.
fn retrying<T>(mut change: impl FnMut() -> Result<T, LifecycleError>) -> Result<T, LifecycleError> {
    let mut attempt = 1;
    loop {
        match change() {
            Err(LifecycleError::Conflict(why)) if attempt < ATTEMPTS => {
                log::info!("key change lost a race ({why}); trying again");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Rotates `algs` in one transaction: all or none. Without `force`, refused
/// while a next key is younger than TESSERA_PREPUBLISH.
pub fn rotate(
    conn: &mut DbConnection,
    algs: &[Alg],
    force: bool,
    ctx: &KeyContext,
) -> Result<Vec<Rotated>, LifecycleError> {
    retrying(|| rotate_once(conn, algs, force, ctx))
}

fn rotate_once(
    conn: &mut DbConnection,
    algs: &[Alg],
    force: bool,
    ctx: &KeyContext,
) -> Result<Vec<Rotated>, LifecycleError> {
    let now = crate::time::now();
    let fresh = algs.iter().map(|alg| ctx.fresh_next_key(*alg, now)).collect::<Result<Vec<_>, _>>()?;
    write_txn(conn, |c| {
        let rows = q::list_keys(c)?;
        algs.iter().zip(&fresh).map(|(alg, row)| rotate_alg(c, &rows, *alg, row, force, now, ctx)).collect()
    })
}

/// One algorithm's rotation, inside the caller's transaction.
fn rotate_alg(
    c: &mut DbConnection,
    rows: &[KeyRow],
    alg: Alg,
    fresh: &KeyRow,
    force: bool,
    now: i64,
    ctx: &KeyContext,
) -> Result<Rotated, LifecycleError> {
    let active = find_state(rows, alg, KeyState::Active).ok_or(LifecycleError::NotConfigured(alg.to_string()))?;
    let next = find_state(rows, alg, KeyState::Next).ok_or_else(|| LifecycleError::Conflict("no next key".into()))?;
    let ready_at = next.created_at + ctx.prepublish_secs;
    if !force && ready_at > now {
        return Err(LifecycleError::NextKeyTooYoung { alg, ready_at });
    }
    let conflict = || LifecycleError::Conflict(format!("another rotation of {alg} ran first"));
    if !q::retire_key(c, &active.kid, now, now + ctx.access_ttl_secs + RETIRED_GRACE_SECS)? {
        return Err(conflict());
    }
    ctx.fault.check(1)?;
    if !q::activate_key(c, &next.kid, now)? {
        return Err(conflict());
    }
    ctx.fault.check(2)?;
    q::insert_key(c, fresh)?;
    ctx.fault.check(3)?;
    let rotated = Rotated {
        alg: alg.to_string(),
        retired_kid: active.kid.clone(),
        active_kid: next.kid.clone(),
        next_kid: fresh.kid.clone(),
    };
    insert_event(c, ctx.actor, "key.created", &fresh.kid, serde_json::json!({"alg": alg.as_str(), "state": "next"}))?;
    insert_event(c, ctx.actor, "key.rotated", alg.as_str(), serde_json::json!({"forced": force, "rotated": rotated}))?;
    ctx.fault.check(4)?;
    Ok(rotated)
}

/// Revokes a key. A revoked active key rotates its algorithm in the same
/// transaction (forced: this is the emergency path); a revoked next key is
/// replaced by a fresh one, so every algorithm keeps one of each.
pub fn revoke(conn: &mut DbConnection, kid: &str, ctx: &KeyContext) -> Result<Revoked, LifecycleError> {
    retrying(|| revoke_once(conn, kid, ctx))
}

fn revoke_once(conn: &mut DbConnection, kid: &str, ctx: &KeyContext) -> Result<Revoked, LifecycleError> {
    let before = q::find_key(conn, kid)?.ok_or_else(|| LifecycleError::NotFound(kid.to_owned()))?;
    let alg = Alg::from_header(&before.alg).ok_or_else(|| LifecycleError::NotFound(kid.to_owned()))?;
    let now = crate::time::now();
    let needs_fresh = matches!(before.state.as_str(), "active" | "next");
    let fresh = if needs_fresh { Some(ctx.fresh_next_key(alg, now)?) } else { None };
    write_txn(conn, |c| {
        let row = q::find_key(c, kid)?.ok_or_else(|| LifecycleError::NotFound(kid.to_owned()))?;
        let state = KeyState::parse(&row.state).unwrap_or(KeyState::Revoked);
        let fresh_row = || fresh.as_ref().ok_or_else(|| LifecycleError::Conflict(format!("key {kid} changed state")));
        let conflict = || LifecycleError::Conflict(format!("key {kid} changed state"));
        let mut rotated = None;
        match state {
            KeyState::Active => {
                let rows = q::list_keys(c)?;
                rotated = Some(rotate_alg(c, &rows, alg, fresh_row()?, true, now, ctx)?);
                q::revoke_key(c, kid, "retired", now)?.then_some(()).ok_or_else(conflict)?;
            }
            KeyState::Next => {
                q::revoke_key(c, kid, "next", now)?.then_some(()).ok_or_else(conflict)?;
                let fresh = fresh_row()?;
                q::insert_key(c, fresh)?;
                insert_event(
                    c,
                    ctx.actor,
                    "key.created",
                    &fresh.kid,
                    serde_json::json!({"alg": alg.as_str(), "state": "next"}),
                )?;
            }
            KeyState::Retired => {
                q::revoke_key(c, kid, "retired", now)?.then_some(()).ok_or_else(conflict)?;
            }
            KeyState::Expired | KeyState::Revoked => {
                return Err(LifecycleError::NotRevocable { kid: kid.to_owned(), state: state.as_str() });
            }
        }
        let revoked =
            Revoked { kid: kid.to_owned(), alg: alg.to_string(), previous_state: state.as_str().into(), rotated };
        insert_event(
            c,
            ctx.actor,
            "key.revoked",
            kid,
            serde_json::json!({"alg": alg.as_str(), "previous_state": state.as_str()}),
        )?;
        ctx.fault.check(5)?;
        Ok(revoked)
    })
}

/// Retired keys past `retired_at` + access TTL + 60 s become `expired`, and
/// their encrypted private halves are erased. Returns the kids expired.
pub fn expire_due(conn: &mut DbConnection, now: i64, actor: &str) -> Result<Vec<String>, LifecycleError> {
    write_txn(conn, |c| {
        let mut expired = Vec::new();
        for row in q::list_expiring_keys(c, now)? {
            if q::expire_key(c, &row.kid)? {
                insert_event(c, actor, "key.expired", &row.kid, serde_json::json!({"alg": row.alg}))?;
                expired.push(row.kid);
            }
        }
        Ok(expired)
    })
}

/// Algorithms whose active key has signed for `interval_secs` or longer.
pub fn due_rotations(
    conn: &mut DbConnection,
    algs: &[Alg],
    interval_secs: i64,
    now: i64,
) -> Result<Vec<Alg>, LifecycleError> {
    let rows = q::list_keys(conn)?;
    Ok(algs
        .iter()
        .copied()
        .filter(|alg| {
            find_state(&rows, *alg, KeyState::Active)
                .is_some_and(|k| k.activated_at.unwrap_or(k.created_at) + interval_secs <= now)
        })
        .collect())
}
