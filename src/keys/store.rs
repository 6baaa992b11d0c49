//! Keys in the database: loading them into a `KeySet` (decrypting private
//! halves under the master key) and creating the first keys.
//!
//! Loading never writes, so a wrong master key stops the start before
//! anything in the database changes.

use diesel::result::Error as DieselError;

use super::master::{MasterKey, MasterKeyError};
use super::material::{KeyError, KeyMaterial};
use super::set::{KeySet, LoadedKey, SharedKeySet};
use super::{Alg, KeyState, PublicJwk};
use crate::db::keys::{KeyRow, insert_key, list_keys};
use crate::db::{DbConnection, DbError, write_txn};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("signing key {kid} in the database is corrupt: {reason}")]
    Corrupt { kid: String, reason: String },
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        Self::Db(e.into())
    }
}

/// Parses and checks one row; decrypts the private half of `active` and `next` keys.
fn load_row(row: KeyRow, master: &MasterKey) -> Result<LoadedKey, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { kid: row.kid.clone(), reason };
    let state = KeyState::parse(&row.state).ok_or_else(|| corrupt(format!("unknown state {:?}", row.state)))?;
    let alg = Alg::from_header(&row.alg).ok_or_else(|| corrupt(format!("unknown alg {:?}", row.alg)))?;
    let json = serde_json::from_str(&row.public_jwk).map_err(|e| corrupt(e.to_string()))?;
    let jwk = PublicJwk::from_json(&json).map_err(corrupt)?;
    if jwk.alg() != alg || jwk.thumbprint() != row.kid {
        return Err(corrupt("public key does not match its kid and alg".into()));
    }
    let signer = match (state, &row.private_key) {
        (KeyState::Active | KeyState::Next, None) => return Err(corrupt("private half is missing".into())),
        (KeyState::Active | KeyState::Next, Some(sealed)) => {
            let material = KeyMaterial::from_pkcs8(alg, master.decrypt(&row.kid, sealed)?);
            let signer = material.signer()?;
            if signer.public_jwk() != jwk {
                return Err(corrupt("private half does not match the public key".into()));
            }
            // A next key is decrypted only to prove the master key; it does not sign yet.
            (state == KeyState::Active).then_some(signer)
        }
        _ => None,
    };
    Ok(LoadedKey {
        kid: row.kid,
        state,
        jwk,
        signer,
        created_at: row.created_at,
        activated_at: row.activated_at,
        expires_at: row.expires_at,
    })
}

/// Identifies a set of rows by every kid and state, whatever the algorithm.
fn fingerprint<'a>(rows: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<String> = rows.map(|(kid, state)| format!("{kid}:{state}")).collect();
    pairs.sort_unstable();
    pairs.join(",")
}

/// Loads the keys of the configured algorithms into a fresh key set. Keys of
/// an algorithm dropped from TESSERA_ALGS are neither published nor accepted.
pub fn load_key_set(conn: &mut DbConnection, master: &MasterKey, algs: &[Alg]) -> Result<KeySet, StoreError> {
    let rows = list_keys(conn)?;
    let print = fingerprint(rows.iter().map(|r| (r.kid.as_str(), r.state.as_str())));
    let loaded = rows
        .into_iter()
        .filter(|row| Alg::from_header(&row.alg).is_some_and(|a| algs.contains(&a)))
        .map(|row| load_row(row, master))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(KeySet::build(loaded, print))
}

/// Rebuilds `shared` from the database if any key was added or changed state
/// since it was built. Reading kids and states is cheap; decrypting and parsing
/// keys happens only on a change. Returns whether the set was replaced.
pub fn reload_if_changed(
    conn: &mut DbConnection,
    master: &MasterKey,
    algs: &[Alg],
    shared: &SharedKeySet,
) -> Result<bool, StoreError> {
    let states = crate::db::keys::list_key_states(conn)?;
    if fingerprint(states.iter().map(|(k, s)| (k.as_str(), s.as_str()))) == shared.current().fingerprint() {
        return Ok(false);
    }
    shared.replace(load_key_set(conn, master, algs)?);
    Ok(true)
}

/// Whether the database holds any key at all (it decides whether a missing
/// master key file may be created).
pub fn has_keys(conn: &mut DbConnection) -> Result<bool, StoreError> {
    Ok(!list_keys(conn)?.is_empty())
}

fn missing_states(rows: &[KeyRow], algs: &[Alg]) -> Vec<(Alg, KeyState)> {
    let mut missing = Vec::new();
    for alg in algs {
        for state in [KeyState::Active, KeyState::Next] {
            if !rows.iter().any(|r| r.alg == alg.as_str() && r.state == state.as_str()) {
                missing.push((*alg, state));
            }
        }
    }
    missing
}

/// A key row for freshly generated material, encrypted under the master key.
pub fn new_key_row(
    material: &KeyMaterial,
    state: KeyState,
    master: &MasterKey,
    now: i64,
) -> Result<KeyRow, StoreError> {
    let jwk = material.signer()?.public_jwk();
    let kid = jwk.thumbprint();
    Ok(KeyRow {
        private_key: Some(master.encrypt(&kid, material.pkcs8())?),
        alg: material.alg.as_str().into(),
        state: state.as_str().into(),
        public_jwk: jwk.members().to_string(),
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
        expires_at: None,
        revoked_at: None,
        kid,
    })
}

/// Makes sure every algorithm has an active and a next key, creating what is
/// missing in one transaction. Two instances racing on one database end with
/// exactly one of each: the partial unique indexes refuse the loser's insert,
/// its transaction rolls back, and it uses the winner's keys.
/// Returns the kids created here.
pub fn ensure_keys(
    conn: &mut DbConnection,
    algs: &[Alg],
    rsa_bits: usize,
    master: &MasterKey,
) -> Result<Vec<String>, StoreError> {
    let missing = missing_states(&list_keys(conn)?, algs);
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    // Key generation (RSA: up to half a second) happens before the transaction.
    let now = crate::time::now();
    let mut fresh = Vec::new();
    for (alg, state) in &missing {
        fresh.push(new_key_row(&KeyMaterial::generate(*alg, rsa_bits)?, *state, master, now)?);
    }
    let result = write_txn(conn, |c| -> Result<Vec<String>, StoreError> {
        let still_missing = missing_states(&list_keys(c)?, algs);
        let mut created = Vec::new();
        for row in
            fresh.iter().filter(|r| still_missing.iter().any(|(a, s)| a.as_str() == r.alg && s.as_str() == r.state))
        {
            insert_key(c, row)?;
            let details = serde_json::json!({"alg": row.alg, "state": row.state});
            crate::db::audit::insert_event(c, "system", "key.created", &row.kid, details)?;
            created.push(row.kid.clone());
        }
        Ok(created)
    });
    match result {
        Err(StoreError::Db(e)) if e.is_unique_violation() => {
            log::info!("another instance created the first keys at the same time; using its keys");
            Ok(Vec::new())
        }
        other => other,
    }
}
