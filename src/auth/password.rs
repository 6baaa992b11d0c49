//! argon2id hashing off the request threads, at most about one hash per core
//! at a time, so a login storm neither exhausts memory nor starves the JWKS.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::Argon2Settings;
use crate::domain::Password;
use crate::error::ApiError;

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash uses other parameters than the configured ones.
    pub needs_rehash: bool,
}

pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Checked when the email is unknown, so that costs what a wrong password costs.
    dummy_hash: String,
}

impl Hasher {
    pub fn new(settings: Argon2Settings) -> Result<Self, String> {
        let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
            .map_err(|e| format!("argon2 parameters: {e}"))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut hasher = Self { params, permits: Arc::new(Semaphore::new(cores)), dummy_hash: String::new() };
        hasher.dummy_hash =
            hasher.hash_blocking(&Password::normalize("tessera dummy password for unknown accounts"))?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes on the calling thread: for the CLI and start-up only.
    pub fn hash_blocking(&self, password: &Password) -> Result<String, String> {
        self.argon2().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| format!("argon2: {e}"))
    }

    fn verify_blocking(&self, password: &Password, stored: Option<&str>) -> Verified {
        let hash = stored.unwrap_or(&self.dummy_hash);
        let Ok(parsed) = PasswordHash::new(hash) else {
            log::error!("a stored password hash is not a PHC string");
            return Verified { ok: false, needs_rehash: false };
        };
        let ok = self.argon2().verify_password(password.as_bytes(), &parsed).is_ok() && stored.is_some();
        let current = Params::try_from(&parsed).ok();
        let needs_rehash = ok
            && (parsed.algorithm.as_str() != "argon2id"
                || current.is_none_or(|p| {
                    (p.m_cost(), p.t_cost(), p.p_cost())
                        != (self.params.m_cost(), self.params.t_cost(), self.params.p_cost())
                }));
        Verified { ok, needs_rehash }
    }

    /// Hashes on the blocking pool, waiting for a permit first.
    pub async fn hash(self: &Arc<Self>, password: Password) -> Result<String, ApiError> {
        let _permit = self.permits.acquire().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        let this = Arc::clone(self);
        actix_web::web::block(move || this.hash_blocking(&password))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(ApiError::Internal)
    }

    /// Verifies against `stored`, or against the dummy hash when there is no account.
    pub async fn verify(self: &Arc<Self>, password: Password, stored: Option<String>) -> Result<Verified, ApiError> {
        let _permit = self.permits.acquire().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        let this = Arc::clone(self);
        actix_web::web::block(move || this.verify_blocking(&password, stored.as_deref()))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: Argon2Settings = Argon2Settings { memory_kib: 19456, iterations: 2, parallelism: 1 };

    #[test]
    fn hashes_are_argon2id_with_the_configured_parameters() {
        let h = Hasher::new(DEFAULTS).unwrap();
        let hash = h.hash_blocking(&Password::normalize("correct horse battery")).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        let ok = h.verify_blocking(&Password::normalize("correct horse battery"), Some(&hash));
        assert_eq!(ok, Verified { ok: true, needs_rehash: false });
        assert!(!h.verify_blocking(&Password::normalize("wrong horse battery"), Some(&hash)).ok);
    }

    #[test]
    fn unknown_accounts_never_verify_and_weaker_hashes_are_flagged() {
        let weak = Hasher::new(Argon2Settings { iterations: 3, ..DEFAULTS }).unwrap();
        let strong = Hasher::new(Argon2Settings { iterations: 4, ..DEFAULTS }).unwrap();
        let pw = "tessera dummy password for unknown accounts";
        assert!(!strong.verify_blocking(&Password::normalize(pw), None).ok);
        let old = weak.hash_blocking(&Password::normalize("correct horse battery")).unwrap();
        let v = strong.verify_blocking(&Password::normalize("correct horse battery"), Some(&old));
        assert_eq!(v, Verified { ok: true, needs_rehash: true });
    }
}
