//! Service clients: creation, secret checks and scopes.
//!
//! A client secret is 256 random bits, shown once and stored as SHA-256: it is
//! random, so a slow hash would add latency and no protection. An unknown
//! client id is checked against a dummy hash, so it costs and answers the same
//! as a wrong secret.

use diesel::QueryResult;

use super::sessions::{hash_token, random_token};
use crate::db::DbConnection;
use crate::db::DbError;
use crate::db::clients::{ClientRow, find_client, insert_client};
use crate::keys::Alg;

/// Equal-length comparison whose time does not depend on where bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client, if `secret` is its secret.
pub fn authenticate(c: &mut DbConnection, id: &str, secret: &str) -> QueryResult<Option<ClientRow>> {
    let client = find_client(c, id)?;
    let dummy = "0".repeat(64);
    let expected = client.as_ref().map_or(dummy.as_str(), |cl| cl.secret_hash.as_str());
    let matches = constant_time_eq(hash_token(secret).as_bytes(), expected.as_bytes());
    Ok(client.filter(|_| matches))
}

/// Splits and checks a space-separated scope list (RFC 6749 §3.3 characters).
pub fn parse_scopes(raw: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in raw.split(' ').filter(|s| !s.is_empty()) {
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    let valid = |s: &String| s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if let Some(bad) = scopes.iter().find(|s| !valid(s)) {
        return Err(format!("scope {bad:?} has characters RFC 6749 does not allow"));
    }
    Ok(scopes)
}

/// A new client and its secret (shown once, never stored).
pub fn create_client(
    c: &mut DbConnection,
    name: &str,
    scopes: &[String],
    audience: Option<&str>,
    alg: Alg,
) -> Result<(ClientRow, String), DbError> {
    let secret = random_token()?;
    let row = ClientRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        secret_hash: hash_token(&secret),
        scopes: scopes.join(" "),
        audience: audience.map(str::to_owned),
        alg: alg.as_str().to_owned(),
        created_at: crate::time::now(),
    };
    insert_client(c, &row)?;
    crate::db::audit::insert_event(c, "cli", "client.created", &row.id, serde_json::json!({"name": name}))?;
    Ok((row, secret))
}
