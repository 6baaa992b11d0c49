//! `AppState`: what every handler shares through `web::Data`. Built once by
//! `startup`; the key set inside changes, the rest does not.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::{Hasher, TokenIssuer, Verifier};
use crate::db::DbPool;
use crate::keys::master::MasterKey;
use crate::keys::{Alg, SharedKeySet};

pub struct AppState {
    pub pool: DbPool,
    pub keys: SharedKeySet,
    pub master: MasterKey,
    pub tokens: TokenIssuer,
    pub verifier: Verifier,
    pub hasher: Arc<Hasher>,
    pub password_min: usize,
    /// The algorithms that must have an active key (`TESSERA_ALGS`).
    pub algs: Vec<Alg>,
    pub jwks_max_age: Duration,
    pub prepublish: Duration,
    /// The discovery document, rendered once.
    pub metadata: String,
}
