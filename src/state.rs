//! `AppState`: what every handler shares through `web::Data`. Built once by
//! `startup`; the key set inside changes, the rest does not.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::{Hasher, TokenIssuer, Verifier};
use crate::db::{self, DbConnection, DbPool};
use crate::keys::master::MasterKey;
use crate::keys::rotation::{FaultAt, KeyContext};
use crate::keys::store::{self, StoreError};
use crate::keys::{Alg, SharedKeySet};

/// How often an unknown `kid` may trigger a reload of the key set.
const FORCED_RELOAD_MIN_GAP: Duration = Duration::from_secs(1);

/// Settings of the key lifecycle.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// The algorithms that must have an active key (`TESSERA_ALGS`).
    pub algs: Vec<Alg>,
    pub rsa_bits: usize,
    pub prepublish: Duration,
    pub access_ttl: Duration,
    pub rotation_interval: Option<Duration>,
    pub jwks_max_age: Duration,
}

/// Settings of refresh-token sessions.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    pub refresh_ttl_secs: i64,
    pub refresh_grace_secs: i64,
}

pub struct AppState {
    pub pool: DbPool,
    pub sessions: SessionSettings,
    pub keys: SharedKeySet,
    pub master: MasterKey,
    pub key_settings: KeySettings,
    pub tokens: TokenIssuer,
    pub verifier: Verifier,
    pub hasher: Arc<Hasher>,
    pub password_min: usize,
    /// The discovery document, rendered once.
    pub metadata: actix_web::web::Bytes,
    /// Names this process in leases.
    pub instance_id: String,
    last_forced_reload: Mutex<Option<Instant>>,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pool: DbPool,
        sessions: SessionSettings,
        keys: SharedKeySet,
        master: MasterKey,
        key_settings: KeySettings,
        tokens: TokenIssuer,
        verifier: Verifier,
        hasher: Arc<Hasher>,
        password_min: usize,
        metadata: actix_web::web::Bytes,
    ) -> Self {
        Self {
            pool,
            sessions,
            keys,
            master,
            key_settings,
            tokens,
            verifier,
            hasher,
            password_min,
            metadata,
            instance_id: uuid::Uuid::new_v4().to_string(),
            last_forced_reload: Mutex::new(None),
        }
    }

    pub fn key_context<'a>(&'a self, actor: &'a str) -> KeyContext<'a> {
        let ks = &self.key_settings;
        KeyContext {
            master: &self.master,
            rsa_bits: ks.rsa_bits,
            prepublish_secs: ks.prepublish.as_secs() as i64,
            access_ttl_secs: ks.access_ttl.as_secs() as i64,
            actor,
            fault: FaultAt::default(),
        }
    }

    /// Reloads the key set from the database if it changed.
    pub fn reload_keys(&self, conn: &mut DbConnection) -> Result<bool, StoreError> {
        store::reload_if_changed(conn, &self.master, &self.key_settings.algs, &self.keys)
    }

    /// For a token naming an unknown kid: reload at once, but at most once a
    /// second, so a flood of random kids cannot become a flood of queries.
    /// Returns whether the set changed.
    pub async fn reload_for_unknown_kid(self: &Arc<Self>) -> bool {
        {
            let mut last = self.last_forced_reload.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < FORCED_RELOAD_MIN_GAP) {
                return false;
            }
            *last = Some(Instant::now());
        }
        let this = Arc::clone(self);
        match db::run(&self.pool, move |c| Ok(this.reload_keys(c))).await {
            Ok(Ok(changed)) => changed,
            Ok(Err(e)) => {
                log::warn!("reloading keys for an unknown kid failed: {e}");
                false
            }
            Err(e) => {
                log::warn!("reloading keys for an unknown kid failed: {e}");
                false
            }
        }
    }
}
