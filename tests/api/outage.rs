//! A database that is busy or down answers 503 with Retry-After: never
//! "invalid credentials", never "email taken". What needs no database (the
//! JWKS, liveness) keeps serving.

use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};
use tessera::config::DatabaseUrl;

use crate::helpers::*;

fn assert_unavailable(res: &Resp, what: &str) {
    assert_eq!(res.status, 503, "{what}: {}", res.body);
    assert_eq!(res.error_code(), "temporarily_unavailable", "{what}");
    assert!(res.header("retry-after").is_some(), "{what}: no Retry-After");
}

#[test]
fn a_dropped_postgres_database_gives_503_not_invalid_credentials() {
    let Some(app) = spawn_app(Backend::Postgres) else { return };
    let (email, token) = app.new_user();
    let DatabaseUrl::Postgres(url) = &app.db.url else { unreachable!() };
    let name = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = diesel::pg::PgConnection::establish(&pg_admin_url()).unwrap();
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).unwrap();

    assert_unavailable(&app.login(&email, PASSWORD), "login");
    assert_unavailable(&app.login("nobody@example.test", PASSWORD), "login of an unknown email");
    assert_unavailable(&app.signup(&email, PASSWORD), "signup with a taken email");
    assert_unavailable(&app.me(&token), "/v1/me with a valid token");
    assert_eq!(app.get("/readyz").status, 503);
    assert_eq!(app.get("/healthz").status, 200);
    assert_eq!(app.get("/.well-known/jwks.json").status, 200, "the JWKS is served from memory");
    // A bad token is still a 401: it is refused before the database is asked.
    assert_eq!(app.me("not-a-token").status, 401);
}

#[test]
fn a_locked_sqlite_database_gives_503_on_write() {
    let Some(app) = spawn_app(Backend::Sqlite) else { return };
    let (email, token) = app.new_user();
    let DatabaseUrl::Sqlite(path) = &app.db.url else { unreachable!() };
    let mut locker = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    locker.batch_execute("BEGIN EXCLUSIVE").unwrap();
    // The writer waits out busy_timeout, then gives up: 503, not "email taken" or a 500.
    assert_unavailable(&app.signup("another@example.test", PASSWORD), "signup while locked");
    // A login writes its session, so it waits too: 503, never "invalid credentials".
    assert_unavailable(&app.login(&email, PASSWORD), "login while locked");
    // Readers are not blocked in WAL mode.
    assert_eq!(app.me(&token).status, 200);
    locker.batch_execute("ROLLBACK").unwrap();
    assert_eq!(app.signup("another@example.test", PASSWORD).status, 201, "the same signup works once the lock is gone");
}
