//! `Application`: binds the listener (port 0 in tests), prepares the state
//! (database, migrations, master key, signing keys, bootstrap admin) and runs
//! the HTTP server. `main` and the tests start tessera only through here.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::Logger;
use actix_web::{App, HttpServer, web};

use crate::auth::{Hasher, TokenIssuer, Verifier};
use crate::config::{MasterKeySource, Settings};
use crate::db::{self, DbConnection, DbError};
use crate::domain::{Email, Password, Role};
use crate::keys::master::{MasterKey, MasterKeyError};
use crate::keys::store::{self, StoreError};
use crate::keys::{Alg, KeySet, SharedKeySet};
use crate::routes;
use crate::state::{AppState, KeySettings, SessionSettings};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Keys(#[from] StoreError),
    #[error(
        "the master key file {0} is missing, but the database already holds encrypted signing keys; \
         restore the file (or set TESSERA_MASTER_KEY) instead of creating a new key"
    )]
    MasterKeyMissing(String),
    #[error("start-up self-test failed: {0}")]
    SelfTest(String),
    #[error("{0}")]
    Other(String),
}

impl From<MasterKeyError> for StartError {
    fn from(e: MasterKeyError) -> Self {
        Self::Keys(StoreError::MasterKey(e))
    }
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let addr = settings.bind;
        let listener = TcpListener::bind(addr).map_err(|source| StartError::Bind { addr: addr.to_string(), source })?;
        let local = listener.local_addr().map_err(|source| StartError::Bind { addr: addr.to_string(), source })?;
        let issuer = settings.issuer.clone().unwrap_or_else(|| format!("http://{local}"));
        let prepared = settings.clone();
        let state =
            web::block(move || prepare(&prepared, issuer)).await.map_err(|e| StartError::Other(e.to_string()))??;
        let state = web::Data::new(state);
        let data = state.clone();
        let workers = settings.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                // The access log prints the path without the query string and no
                // headers, so no token reaches it, even one sent where it does not belong.
                .wrap(
                    Logger::new(r#"%a "%{method}xi %U" %s %b %Dms"#)
                        .custom_request_replace("method", |req| req.method().to_string()),
                )
                .wrap(actix_web::middleware::from_fn(routes::limit_body_time))
                .wrap(actix_web::middleware::from_fn(routes::track_request))
                .configure(routes::configure)
        })
        .workers(workers)
        .listen(listener)
        .map_err(|source| StartError::Bind { addr: addr.to_string(), source })?
        .run();
        crate::jobs::spawn(state.clone());
        log::info!("tessera listening on http://{local} (issuer {})", state.tokens.issuer);
        Ok(Self { port: local.port(), server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Everything before the first request: blocking work, run once.
pub fn prepare(settings: &Settings, issuer: String) -> Result<AppState, StartError> {
    let audience = settings.audience.clone().unwrap_or_else(|| issuer.clone());
    let pool = db::connect(&settings.database_url, settings.db_pool_size)?;
    let mut conn = pool.get().map_err(DbError::from)?;
    let master = load_master_key(&mut conn, &settings.master_key)?;
    // Loading decrypts every private half: a wrong master key stops the start
    // here, before anything below writes to the database.
    store::load_key_set(&mut conn, &master, &Alg::ALL)?;
    let created = store::ensure_keys(&mut conn, &settings.algs, settings.rsa_bits, &master)?;
    if !created.is_empty() {
        log::info!("created signing keys {}", created.join(", "));
    }
    let set = store::load_key_set(&mut conn, &master, &settings.algs)?;
    let tokens = TokenIssuer {
        issuer: issuer.clone(),
        audience: audience.clone(),
        typ: settings.access_token_typ,
        ttl_secs: settings.access_ttl.as_secs() as i64,
        alg: settings.signing_alg,
        metrics: None,
    };
    let verifier = Verifier::new(&issuer, &audience, settings.access_token_typ);
    self_test(&set, &tokens, &verifier, settings)?;
    let tokens = TokenIssuer { metrics: Some(Arc::new(crate::metrics::Metrics::default())), ..tokens };
    let hasher = Arc::new(Hasher::new(settings.argon2).map_err(StartError::Other)?);
    if let Some((email, password)) = &settings.bootstrap_admin {
        bootstrap_admin(&mut conn, &hasher, email, &password.0, settings.password_min)?;
    }
    let key_settings = KeySettings {
        algs: settings.algs.clone(),
        rsa_bits: settings.rsa_bits,
        prepublish: settings.prepublish,
        access_ttl: settings.access_ttl,
        rotation_interval: settings.rotation_interval,
        jwks_max_age: settings.jwks_max_age,
    };
    let metadata = routes::render_metadata(&issuer, &settings.algs).into();
    let sessions = SessionSettings {
        refresh_ttl_secs: settings.refresh_ttl.as_secs() as i64,
        refresh_grace_secs: settings.refresh_grace.as_secs() as i64,
    };
    Ok(AppState::new(
        pool,
        sessions,
        SharedKeySet::new(set),
        master,
        key_settings,
        tokens,
        verifier,
        hasher,
        settings.password_min,
        metadata,
    ))
}

fn load_master_key(conn: &mut DbConnection, source: &MasterKeySource) -> Result<MasterKey, StartError> {
    let has_keys = store::has_keys(conn)?;
    if let MasterKeySource::File(path) = source
        && has_keys
        && !path.exists()
    {
        return Err(StartError::MasterKeyMissing(path.display().to_string()));
    }
    Ok(MasterKey::load(source, !has_keys)?)
}

/// Signs one token with every active key and verifies it with jsonwebtoken,
/// so a build without a working crypto backend fails here, not on first use.
fn self_test(set: &KeySet, tokens: &TokenIssuer, verifier: &Verifier, settings: &Settings) -> Result<(), StartError> {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        return Err(StartError::SelfTest(
            "jsonwebtoken has no crypto backend (enable exactly one of its backend features)".into(),
        ));
    }
    for alg in &settings.algs {
        let issuer = TokenIssuer { alg: *alg, ..tokens.clone() };
        let claims = issuer.user_claims("self-test", "self-test@tessera.invalid", Role::User.as_str());
        let token = issuer.sign(set, &claims).map_err(|e| StartError::SelfTest(format!("{alg}: {e:?}")))?;
        let verified = verifier.verify(set, &token.token).map_err(|e| StartError::SelfTest(format!("{alg}: {e}")))?;
        if verified != claims {
            return Err(StartError::SelfTest(format!("{alg}: claims changed in a round trip")));
        }
    }
    Ok(())
}

/// Creates the first admin from TESSERA_BOOTSTRAP_ADMIN_* unless that account exists.
fn bootstrap_admin(
    conn: &mut DbConnection,
    hasher: &Hasher,
    email: &str,
    password: &str,
    min: usize,
) -> Result<(), StartError> {
    let bad = |m: String| StartError::Other(format!("TESSERA_BOOTSTRAP_ADMIN_*: {m}"));
    let email = Email::parse(email).map_err(|m| bad(m.into()))?;
    if db::users::find_user_by_email(conn, email.normalized()).map_err(DbError::from)?.is_some() {
        return Ok(());
    }
    let password = Password::parse(password, min).map_err(|e| bad(e.to_string()))?;
    let row = db::users::UserRow::new(&email, hasher.hash_blocking(&password).map_err(bad)?, Role::Admin);
    let created = db::write_txn(conn, |c| -> Result<(), diesel::result::Error> {
        db::users::insert_user(c, &row)?;
        db::audit::insert_event(
            c,
            "system",
            "user.created",
            &row.id,
            serde_json::json!({"role": "admin", "bootstrap": true}),
        )
    });
    match created.map_err(DbError::from) {
        Err(e) if e.is_unique_violation() => Ok(()),
        Err(e) => Err(e.into()),
        Ok(()) => {
            log::info!("created the bootstrap admin {} ({})", row.email, row.id);
            Ok(())
        }
    }
}
