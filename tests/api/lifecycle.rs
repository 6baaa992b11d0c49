//! Start, stop and start again: keys survive a restart, a wrong or missing
//! master key stops the start without touching the database, signups hold up
//! under concurrency, and instances racing on one database agree on one key set.

use std::sync::{Arc, Barrier};

use diesel::prelude::*;
use serde_json::Value;
use tessera::config::{MasterKeyBytes, MasterKeySource};
use tessera::db::schema::users;
use tessera::db::users::UserRow;

use crate::both_backends;
use crate::helpers::*;

/// Every row of `signing_keys` (with the encrypted private half) and of `users`,
/// in a comparable form.
type KeySnapshot = Vec<(String, String, String, String, Option<Vec<u8>>, i64, Option<i64>)>;
type UserSnapshot = Vec<(String, String, String, String, String, i64, i64, Option<i64>, i64)>;

fn snapshot(db: &TestDb) -> (KeySnapshot, UserSnapshot) {
    let mut conn = tessera::db::establish(&db.url).unwrap();
    let keys = tessera::db::keys::list_keys(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| (r.kid, r.alg, r.state, r.public_jwk, r.private_key, r.created_at, r.activated_at))
        .collect();
    let users: Vec<UserRow> = users::table.select(UserRow::as_select()).order(users::id.asc()).load(&mut conn).unwrap();
    let users = users
        .into_iter()
        .map(|u| {
            let UserRow {
                id,
                email,
                email_normalized,
                password_hash,
                role,
                created_at,
                updated_at,
                disabled_at,
                tokens_valid_after,
            } = u;
            (id, email, email_normalized, password_hash, role, created_at, updated_at, disabled_at, tokens_valid_after)
        })
        .collect();
    (keys, users)
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

/// Starts an app that must fail and returns the error message.
fn start_error(settings: tessera::config::Settings) -> String {
    match start(settings) {
        Ok(_) => panic!("the app started but should not have"),
        Err(e) => e.to_string(),
    }
}

both_backends! {
    fn restart_keeps_keys_tokens_and_accounts(backend) {
        let Some(db) = TestDb::new(backend) else { return };
        let key_file = db.dir.path().join("keys/master.key");
        let mut settings = test_settings(&db);
        settings.issuer = Some("http://tessera.test".into());
        settings.master_key = MasterKeySource::File(key_file.clone());

        let app = start(settings.clone()).expect("the first start");
        let (email, token) = app.new_user();
        let jwks = app.jwks();
        drop(app);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_file).expect("the master key file exists").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "master key file mode {:o}", mode & 0o777);
        }
        assert!(key_file.exists());

        let app = start(settings).expect("the second start");
        assert_eq!(kids(&app.jwks()), kids(&jwks));
        let me = app.me(&token);
        assert_eq!(me.status, 200, "{}", me.body);
        assert_eq!(me.json()["email"], email.as_str());
        let login = app.login(&email, PASSWORD);
        assert_eq!(login.status, 200, "{}", login.body);
    }

    fn dropping_an_algorithm_from_tessera_algs_unpublishes_and_rejects_its_keys(backend) {
        let Some(db) = TestDb::new(backend) else { return };
        let mut settings = test_settings(&db);
        settings.issuer = Some("http://tessera.test".into());
        let app = start(settings.clone()).expect("the first start");
        let (_, token) = app.new_user();
        let sub = jwt_part(&token, 1)["sub"].as_str().unwrap().to_owned();
        let ed_kid = app.active_kid(tessera::keys::Alg::EdDsa);
        let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": ed_kid});
        let ed_token = app.forge(tessera::keys::Alg::EdDsa, &header, &app.valid_claims(&sub));
        assert_eq!(app.me(&ed_token).status, 200);
        drop(app);

        let mut narrowed = settings;
        narrowed.algs = vec![tessera::keys::Alg::Rs256];
        let app = start(narrowed).expect("the narrowed start");
        let jwks = app.jwks();
        assert!(jwks["keys"].as_array().unwrap().iter().all(|k| k["alg"] == "RS256"), "{jwks}");
        assert_eq!(app.get("/.well-known/jwks.json?alg=EdDSA").json()["keys"], serde_json::json!([]));
        assert_eq!(app.me(&ed_token).status, 401, "a token of a dropped algorithm is refused");
        assert_eq!(app.me(&token).status, 200);
    }

    fn a_wrong_master_key_stops_the_start_and_changes_nothing(backend) {
        let Some(db) = TestDb::new(backend) else { return };
        let mut settings = test_settings(&db);
        settings.master_key = MasterKeySource::Inline(MasterKeyBytes(rand_bytes()));
        let app = start(settings.clone()).expect("the first start");
        app.new_user();
        drop(app);

        let before = snapshot(&db);
        assert_eq!(before.0.len(), 4);
        assert_eq!(before.1.len(), 1);
        settings.master_key = MasterKeySource::Inline(MasterKeyBytes(rand_bytes()));
        let message = start_error(settings);
        assert!(message.contains("master key"), "{message}");
        assert_eq!(snapshot(&db), before, "a refused start changed the database");
    }
}

#[cfg(unix)]
#[test]
fn the_sqlite_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let Some(app) = spawn_app(Backend::Sqlite) else { return };
    let tessera::config::DatabaseUrl::Sqlite(path) = &app.db.url else { unreachable!() };
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(path), 0o600, "database file");
    assert_eq!(mode(path.parent().unwrap()), 0o700, "database folder");
}

#[test]
fn a_missing_master_key_file_stops_the_start_when_keys_exist() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let key_file = db.dir.path().join("keys/master.key");
    let mut settings = test_settings(&db);
    settings.master_key = MasterKeySource::File(key_file.clone());
    drop(start(settings.clone()).expect("the first start"));
    let before = snapshot(&db);
    std::fs::remove_file(&key_file).unwrap();

    let message = start_error(settings);
    assert!(message.contains(&key_file.display().to_string()), "the message names the file: {message}");
    assert!(!key_file.exists(), "a new master key file was created");
    assert_eq!(snapshot(&db), before, "a refused start changed the database");
}

#[test]
fn a_hundred_concurrent_signups_on_sqlite_all_succeed() {
    const N: usize = 100;
    let app = spawn_app(Backend::Sqlite).unwrap();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let emails: Vec<String> = (0..N).map(|i| format!("crowd-{i}-{run}@example.test")).collect();
    let barrier = Barrier::new(N);
    let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = emails
            .iter()
            .map(|email| {
                let (app, barrier) = (&app, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let res = app.signup(email, PASSWORD);
                    (res.status, res.body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (status, body) in &statuses {
        assert!(*status < 500, "a signup failed with {status}: {body}");
        assert_eq!(*status, 201, "{body}");
    }
    // Log in with ten threads at a time: every account exists and works.
    std::thread::scope(|scope| {
        for chunk in emails.chunks(N / 10) {
            let app = &app;
            scope.spawn(move || {
                for email in chunk {
                    let res = app.login(email, PASSWORD);
                    assert_eq!(res.status, 200, "{email}: {}", res.body);
                }
            });
        }
    });
}

#[test]
fn two_instances_starting_at_once_on_one_postgres_database_share_one_key_set() {
    let Some(db) = TestDb::new(Backend::Postgres) else { return };
    let settings = test_settings(&db);
    let barrier = Arc::new(Barrier::new(2));
    let apps: Vec<TestApp> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (settings, barrier) = (settings.clone(), barrier.clone());
                scope.spawn(move || {
                    barrier.wait();
                    start(settings).map_err(|e| e.to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap().expect("both instances start")).collect()
    });

    let mut conn = tessera::db::establish(&db.url).unwrap();
    let rows = tessera::db::keys::list_keys(&mut conn).unwrap();
    for alg in ["RS256", "EdDSA"] {
        for state in ["active", "next"] {
            let n = rows.iter().filter(|r| r.alg == alg && r.state == state).count();
            assert_eq!(n, 1, "{alg} has {n} {state} keys: {rows:?}");
        }
    }
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(apps[0].jwks(), apps[1].jwks());
    let (_, token) = apps[0].new_user();
    // The audience differs (it defaults to each instance's own address), so
    // compare the signing key rather than cross-verifying.
    assert_eq!(jwt_part(&token, 0)["kid"], apps[1].active_kid(tessera::keys::Alg::Rs256).as_str());
}
