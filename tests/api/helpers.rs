//! `spawn_app(backend)`: a real tessera on 127.0.0.1:0 with its own database
//! (a SQLite file in a temp dir, or a fresh PostgreSQL database that is
//! dropped afterwards), plus request helpers that speak HTTP to it.
//!
//! PostgreSQL: `TESSERA_TEST_PG_URL` (default postgres://postgres@127.0.0.1:5432/test)
//! names a server where we may create databases. When it cannot be reached the
//! PostgreSQL tests print a notice and pass, except under `CI=true`, where
//! they fail.

#![allow(dead_code)]

use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::web;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use serde_json::{Value, json};
use tessera::config::{DatabaseUrl, MasterKeyBytes, MasterKeySource, Settings};
use tessera::keys::Alg;
use tessera::startup::{Application, StartError};
use tessera::state::AppState;

pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `both_backends! { fn name(backend) { ... } }`
/// makes `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($(fn $name:ident($backend:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn run($backend: $crate::helpers::Backend) $body
            #[test]
            fn sqlite() { run($crate::helpers::Backend::Sqlite) }
            #[test]
            fn postgres() { run($crate::helpers::Backend::Postgres) }
        }
    )*};
}

pub fn pg_admin_url() -> String {
    std::env::var("TESSERA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Prints a notice that shows even for passing tests: libtest captures only
/// the print macros, not writes to the stderr handle.
pub fn notice(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "NOTICE: {text}");
}

/// Whether PostgreSQL tests can run; panics under CI=true when they cannot.
pub fn postgres_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| match PgConnection::establish(&pg_admin_url()) {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but PostgreSQL at {} is unreachable: {e}", pg_admin_url());
            }
            notice(&format!("skipping PostgreSQL tests, {} is unreachable: {e}", pg_admin_url()));
            false
        }
    })
}

/// A database of its own for one test; dropped (PostgreSQL) or deleted (SQLite) at the end.
pub struct TestDb {
    pub url: DatabaseUrl,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    /// `None` when the backend is PostgreSQL and it is unavailable outside CI.
    pub fn new(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                Some(Self { url: DatabaseUrl::Sqlite(dir.path().join("data/tessera.db")), dir, pg_name: None })
            }
            Backend::Postgres => {
                if !postgres_available() {
                    return None;
                }
                let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&pg_admin_url()).expect("admin connection");
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).expect("create database");
                let admin_url = pg_admin_url();
                let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
                Some(Self { url: DatabaseUrl::Postgres(format!("{base}/{name}")), dir, pg_name: Some(name) })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name
            && let Ok(mut admin) = PgConnection::establish(&pg_admin_url())
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
        }
    }
}

/// Settings for a test app on `db`: port 0, a random inline master key, two workers.
pub fn test_settings(db: &TestDb) -> Settings {
    let mut s = Settings::defaults();
    s.bind = "127.0.0.1:0".parse().unwrap();
    s.database_url = db.url.clone();
    s.master_key = MasterKeySource::Inline(MasterKeyBytes(rand_bytes()));
    s.workers = Some(2);
    s
}

pub fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).unwrap();
    b
}

/// A running tessera. Stops its server when dropped; the database lives as long as `db`.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub state: web::Data<AppState>,
    pub settings: Settings,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    agent: ureq::Agent,
}

/// An app and the database it owns (dropped after the app).
pub struct Spawned {
    pub app: TestApp,
    pub db: TestDb,
}

impl std::ops::Deref for Spawned {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// A fresh app with default settings on `backend`; `None` if PostgreSQL is skipped.
pub fn spawn_app(backend: Backend) -> Option<Spawned> {
    spawn_app_with(backend, |_| {})
}

pub fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Option<Spawned> {
    let db = TestDb::new(backend)?;
    let mut settings = test_settings(&db);
    configure(&mut settings);
    let app = start(settings).expect("the app starts");
    Some(Spawned { app, db })
}

/// Starts an app on its own thread and actix system.
pub fn start(settings: Settings) -> Result<TestApp, StartError> {
    let (tx, rx) = mpsc::channel();
    let s = settings.clone();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match Application::build(s).await {
                Ok(app) => {
                    let _ = tx.send(Ok((app.port(), app.handle(), app.state())));
                    let _ = app.run_until_stopped().await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })
    });
    let (port, handle, state) = rx.recv().expect("the app thread reports")?;
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections(0)
        .build()
        .into();
    Ok(TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        state,
        settings,
        handle,
        thread: Some(thread),
        agent,
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends its command at once; the returned future only waits.
        drop(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Asserts the JSON error shape and returns the error code.
    pub fn error_code(&self) -> String {
        let v = self.json();
        assert!(v["error_description"].is_string(), "no error_description in {v}");
        v["error"].as_str().unwrap_or_else(|| panic!("no error in {v}")).to_owned()
    }
}

fn read(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut res = res.expect("the request completes");
    let status = res.status().as_u16();
    let headers =
        res.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
    let body = res.body_mut().with_config().limit(10 * 1024 * 1024).read_to_string().unwrap_or_default();
    Resp { status, headers, body }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.get_with(path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.agent.get(&self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.call())
    }

    /// POSTs raw bytes with the given content type (or none).
    pub fn post_raw(&self, path: &str, content_type: Option<&str>, body: &[u8], headers: &[(&str, &str)]) -> Resp {
        let mut req = self.agent.post(&self.url(path));
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send(body))
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.post_raw(path, Some("application/json"), body.to_string().as_bytes(), &[])
    }

    pub fn signup(&self, email: &str, password: &str) -> Resp {
        self.post_json("/v1/signup", &json!({"email": email, "password": password}))
    }

    pub fn login(&self, email: &str, password: &str) -> Resp {
        self.post_json("/v1/login", &json!({"email": email, "password": password}))
    }

    /// Signs up a fresh user with `PASSWORD` and returns (email, access token).
    pub fn new_user(&self) -> (String, String) {
        let email = format!("user-{}@example.test", uuid::Uuid::new_v4().simple());
        let res = self.signup(&email, PASSWORD);
        assert_eq!(res.status, 201, "{}", res.body);
        (email, res.json()["access_token"].as_str().unwrap().to_owned())
    }

    pub fn me(&self, token: &str) -> Resp {
        self.get_with("/v1/me", &[("Authorization", &format!("Bearer {token}"))])
    }

    pub fn jwks(&self) -> Value {
        let res = self.get("/.well-known/jwks.json");
        assert_eq!(res.status, 200);
        res.json()
    }

    /// Signs an arbitrary header and claims with the app's active key of `alg`:
    /// for tokens that are correctly signed but wrong in some other way.
    pub fn forge(&self, alg: Alg, header: &Value, claims: &Value) -> String {
        let set = self.state.keys.current();
        let key = set.signer(alg).expect("an active key");
        let signing_input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let sig = key.signer.sign(signing_input.as_bytes()).unwrap();
        format!("{signing_input}.{}", B64.encode(sig))
    }

    /// The kid of the active key of `alg`.
    pub fn active_kid(&self, alg: Alg) -> String {
        self.state.keys.current().signer(alg).expect("an active key").kid.clone()
    }

    /// Claims that tessera accepts, for the user `sub`, to be varied by a test.
    pub fn valid_claims(&self, sub: &str) -> Value {
        let now = tessera::time::now();
        json!({
            "iss": self.state.tokens.issuer, "sub": sub, "aud": self.state.tokens.audience,
            "exp": now + 600, "iat": now, "nbf": now, "jti": uuid::Uuid::new_v4().to_string(),
            "email": "someone@example.test", "role": "user",
        })
    }
}

/// Decodes one base64url JSON part of a JWT.
pub fn jwt_part(token: &str, i: usize) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

impl TestApp {
    /// Signs up a user, makes them admin directly in the database, logs in:
    /// returns (user id, access token).
    pub fn new_admin(&self) -> (String, String) {
        let (email, token) = self.new_user();
        let id = jwt_part(&token, 1)["sub"].as_str().unwrap().to_owned();
        let mut conn = self.state.pool.get().unwrap();
        tessera::routes::admin::apply_user_patch(
            &mut conn,
            tessera::routes::admin::Actor::Cli,
            &id,
            Some(tessera::domain::Role::Admin),
            None,
        )
        .unwrap();
        let res = self.login(&email, PASSWORD);
        assert_eq!(res.status, 200, "{}", res.body);
        (id, res.json()["access_token"].as_str().unwrap().to_owned())
    }

    /// POST with a bearer token and a JSON body.
    pub fn post_authed(&self, path: &str, token: &str, body: &Value) -> Resp {
        let bearer = format!("Bearer {token}");
        self.post_raw(path, Some("application/json"), body.to_string().as_bytes(), &[("Authorization", &bearer)])
    }

    pub fn get_authed(&self, path: &str, token: &str) -> Resp {
        self.get_with(path, &[("Authorization", &format!("Bearer {token}"))])
    }

    pub fn patch_authed(&self, path: &str, token: &str, body: &Value) -> Resp {
        let req = self
            .agent
            .patch(&self.url(path))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json");
        read(req.send(body.to_string().as_bytes()))
    }

    /// The kids of the JWKS, in order.
    pub fn jwks_kids(&self) -> Vec<String> {
        self.jwks()["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    }

    /// Waits up to `secs` for `cond`, polling every 100 ms.
    pub fn eventually(&self, secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "not within {secs} s: {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A finished run of the `tessera` binary.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Standard output as JSON (a `--json` command).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `tessera ARGS` in `dir` with only PATH and `env` in its environment,
/// feeding `stdin` (then EOF); killed, and the test failed, after a minute.
pub fn run_tessera(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    use std::io::Write;
    use std::process::{Command, Output, Stdio};
    const DEADLINE: Duration = Duration::from_secs(60);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tessera binary runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).ok();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE {
            child.kill().ok();
            panic!("tessera {args:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}
