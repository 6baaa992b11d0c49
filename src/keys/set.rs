//! The in-memory key set: what signs, what verifies, and the JWKS documents,
//! all built once per change of the set (never per request) and swapped in
//! whole, so a reader never sees half a rotation.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::json;

use super::{Alg, KeyState, PublicJwk, Signer};

/// A key that verifies tokens: published, not revoked.
pub struct PublishedKey {
    pub kid: String,
    pub state: KeyState,
    pub created_at: i64,
    pub jwk: PublicJwk,
    pub decoding: jsonwebtoken::DecodingKey,
}

impl PublishedKey {
    pub fn alg(&self) -> Alg {
        self.jwk.alg()
    }
}

/// The key that signs for one algorithm.
#[derive(Debug)]
pub struct ActiveKey {
    pub kid: String,
    pub signer: Signer,
    pub activated_at: i64,
}

/// A rendered JWKS with its strong ETag.
pub struct JwksDocument {
    /// Shared bytes: a response clones a reference, not the document.
    pub body: actix_web::web::Bytes,
    pub etag: String,
}

impl JwksDocument {
    fn render<'a>(keys: impl Iterator<Item = &'a PublishedKey>) -> Self {
        let body = json!({"keys": keys.map(|k| k.jwk.to_published(&k.kid)).collect::<Vec<_>>()}).to_string();
        let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
        let etag = format!(
            "\"{}\"",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &digest.as_ref()[..18])
        );
        Self { body: body.into(), etag }
    }
}

/// One key as loaded: its public half, state, and a signer if it is active.
pub struct LoadedKey {
    pub kid: String,
    pub state: KeyState,
    pub jwk: PublicJwk,
    pub signer: Option<Signer>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    /// When a retired key leaves the JWKS.
    pub expires_at: Option<i64>,
}

pub struct KeySet {
    published: HashMap<String, PublishedKey>,
    active: HashMap<Alg, ActiveKey>,
    jwks_all: JwksDocument,
    jwks_by_alg: HashMap<Alg, JwksDocument>,
    version: String,
    /// Identifies the rows this set was built from (every kid and state, published or not).
    fingerprint: String,
    /// The earliest time a retired key leaves the JWKS.
    next_expiry: Option<i64>,
    /// The earliest activation among active keys (the next rotation is due from it).
    oldest_activation: Option<i64>,
}

fn state_rank(state: KeyState) -> u8 {
    match state {
        KeyState::Active => 0,
        KeyState::Next => 1,
        _ => 2,
    }
}

impl KeySet {
    /// Builds the set from loaded keys. Only published keys verify; only
    /// active keys that came with a signer sign.
    /// `fingerprint` identifies the database rows the keys came from (see `store`).
    pub fn build(keys: Vec<LoadedKey>, fingerprint: String) -> Self {
        let next_expiry = keys.iter().filter(|k| k.state == KeyState::Retired).filter_map(|k| k.expires_at).min();
        let oldest_activation =
            keys.iter().filter(|k| k.state == KeyState::Active).filter_map(|k| k.activated_at).min();
        let mut published: Vec<PublishedKey> = Vec::new();
        let mut active = HashMap::new();
        for key in keys.into_iter().filter(|k| k.state.is_published()) {
            if let (KeyState::Active, Some(signer)) = (key.state, key.signer) {
                let activated_at = key.activated_at.unwrap_or(key.created_at);
                active.insert(key.jwk.alg(), ActiveKey { kid: key.kid.clone(), signer, activated_at });
            }
            let decoding = key.jwk.decoding_key();
            published.push(PublishedKey {
                kid: key.kid,
                state: key.state,
                created_at: key.created_at,
                jwk: key.jwk,
                decoding,
            });
        }
        // SPEC §4: every active key first, then every next key, then every retired key.
        published.sort_by_key(|k| (state_rank(k.state), k.alg()));
        let jwks_all = JwksDocument::render(published.iter());
        let jwks_by_alg = Alg::ALL
            .into_iter()
            .map(|alg| (alg, JwksDocument::render(published.iter().filter(|k| k.alg() == alg))))
            .collect();
        let mut kids: Vec<&str> = published.iter().map(|k| k.kid.as_str()).collect();
        kids.sort_unstable();
        let digest = ring::digest::digest(&ring::digest::SHA256, kids.join(",").as_bytes());
        let version = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &digest.as_ref()[..9]);
        let published = published.into_iter().map(|k| (k.kid.clone(), k)).collect();
        Self { published, active, jwks_all, jwks_by_alg, version, fingerprint, next_expiry, oldest_activation }
    }

    /// When each algorithm's active key started signing.
    pub fn activations(&self) -> impl Iterator<Item = (Alg, i64)> + '_ {
        self.active.iter().map(|(alg, key)| (*alg, key.activated_at))
    }

    /// Identifies the database rows this set was built from.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The next scheduled change of the published set: a retired key's expiry
    /// or the next automatic rotation, whichever comes first.
    pub fn next_change(&self, rotation_interval_secs: Option<i64>) -> Option<i64> {
        let rotation = rotation_interval_secs.and_then(|i| self.oldest_activation.map(|a| a + i));
        match (self.next_expiry, rotation) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The key a token's `kid` names, if it is published.
    pub fn verifying_key(&self, kid: &str) -> Option<&PublishedKey> {
        self.published.get(kid)
    }

    pub fn signer(&self, alg: Alg) -> Option<&ActiveKey> {
        self.active.get(&alg)
    }

    /// The JWKS, whole or one algorithm's keys.
    pub fn jwks(&self, alg: Option<Alg>) -> &JwksDocument {
        alg.and_then(|a| self.jwks_by_alg.get(&a)).unwrap_or(&self.jwks_all)
    }

    /// A short hash of the published kids: equal on instances that converged.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn published(&self) -> impl Iterator<Item = &PublishedKey> {
        self.published.values()
    }
}

/// The current key set, shared by every worker; replaced whole on change.
pub struct SharedKeySet(RwLock<Arc<KeySet>>);

impl SharedKeySet {
    pub fn new(set: KeySet) -> Self {
        Self(RwLock::new(Arc::new(set)))
    }

    pub fn current(&self) -> Arc<KeySet> {
        // A poisoned lock still holds a whole Arc: the swap below cannot panic midway.
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, set: KeySet) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyMaterial;

    fn loaded(alg: Alg, state: KeyState) -> LoadedKey {
        let signer = KeyMaterial::generate(alg, 2048).unwrap().signer().unwrap();
        let jwk = signer.public_jwk();
        LoadedKey {
            kid: jwk.thumbprint(),
            state,
            jwk,
            signer: Some(signer),
            created_at: 0,
            activated_at: None,
            expires_at: None,
        }
    }

    #[test]
    fn jwks_orders_active_next_retired_and_hides_unpublished_keys() {
        let keys = vec![
            loaded(Alg::EdDsa, KeyState::Retired),
            loaded(Alg::EdDsa, KeyState::Next),
            loaded(Alg::EdDsa, KeyState::Revoked),
            loaded(Alg::EdDsa, KeyState::Active),
        ];
        let kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
        let set = KeySet::build(keys, String::new());
        let doc: serde_json::Value = serde_json::from_slice(&set.jwks(None).body).unwrap();
        let order: Vec<&str> = doc["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(order, vec![kids[3].as_str(), kids[1].as_str(), kids[0].as_str()]);
        assert!(set.verifying_key(&kids[2]).is_none());
        assert_eq!(set.signer(Alg::EdDsa).unwrap().kid, kids[3]);
        assert!(set.signer(Alg::Rs256).is_none());
        assert_eq!(&set.jwks(Some(Alg::Rs256)).body[..], br#"{"keys":[]}"#);
    }
}
