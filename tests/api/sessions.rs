//! Refresh tokens and sessions over HTTP (SPEC §2, §5): rotation, reuse
//! detection with its grace for retries, concurrent refreshes, logout,
//! logout-all, password change and disabling, and tokens in the wrong place.
//!
//! "After the grace" is reached with `refresh_grace = 0` and a sleep past the
//! next whole second (the server counts in unix seconds), never a long wait.

use std::sync::Barrier;
use std::time::Duration;

use diesel::prelude::*;
use serde_json::{Value, json};
use tessera::config::DatabaseUrl;
use tessera::db::schema::{refresh_families, refresh_tokens};
use tessera::db::sessions::{FamilyRow, RefreshRow};

use crate::both_backends;
use crate::helpers::*;

/// The bundled common-password list, read the same way the server reads it.
const COMMON_LIST: &str = include_str!("../../src/domain/common_passwords.txt");

const NEW_PASSWORD: &str = "an entirely different passphrase 42";

/// Long enough that a refresh made before it is outside a zero grace.
const PAST_ZERO_GRACE: Duration = Duration::from_millis(1100);

/// One login of one user: its access and refresh tokens.
#[derive(Debug, Clone)]
struct Session {
    email: String,
    user_id: String,
    access: String,
    refresh: String,
}

/// Signs up a fresh user: their first session.
fn signup(app: &TestApp) -> Session {
    let email = format!("sess-{}@example.test", uuid::Uuid::new_v4().simple());
    let res = app.signup(&email, PASSWORD);
    assert_eq!(res.status, 201, "{}", res.body);
    let body = res.json();
    Session {
        user_id: body["user"]["id"].as_str().unwrap().to_owned(),
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: refresh_of(&body),
        email,
    }
}

/// A second, independent session of the same user.
fn login(app: &TestApp, s: &Session, password: &str) -> Session {
    let res = app.login(&s.email, password);
    assert_eq!(res.status, 200, "{}", res.body);
    let body = res.json();
    Session { access: body["access_token"].as_str().unwrap().to_owned(), refresh: refresh_of(&body), ..s.clone() }
}

/// The refresh token of a token response, checked for its form: 32 bytes, base64url.
fn refresh_of(body: &Value) -> String {
    let token = body["refresh_token"].as_str().unwrap_or_else(|| panic!("no refresh_token in {body}")).to_owned();
    assert_eq!(token.len(), 43, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{token}");
    token
}

fn refresh(app: &TestApp, token: &str) -> Resp {
    app.post_json("/v1/token/refresh", &json!({ "refresh_token": token }))
}

/// Refreshes successfully: (access token, successor refresh token).
fn refresh_ok(app: &TestApp, token: &str) -> (String, String) {
    let res = refresh(app, token);
    assert_eq!(res.status, 200, "{}", res.body);
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().is_some_and(|n| n > 0), "{body}");
    (body["access_token"].as_str().unwrap().to_owned(), refresh_of(&body))
}

fn assert_refresh_fails(app: &TestApp, token: &str, why: &str) {
    let res = refresh(app, token);
    assert_eq!(res.status, 400, "{why}: {}", res.body);
    assert_eq!(res.error_code(), "invalid_grant", "{why}");
}

fn assert_me(app: &TestApp, access: &str, status: u16, why: &str) {
    let res = app.me(access);
    assert_eq!(res.status, status, "{why}: {}", res.body);
}

fn logout(app: &TestApp, token: &str) -> Resp {
    app.post_json("/v1/logout", &json!({ "refresh_token": token }))
}

fn change_password(app: &TestApp, access: &str, current: &str, new: &str) -> Resp {
    app.post_authed("/v1/password", access, &json!({"current_password": current, "new_password": new}))
}

/// Every row of the session tables, as the database has them.
fn session_rows(app: &TestApp) -> (Vec<RefreshRow>, Vec<FamilyRow>) {
    let mut conn = app.state.pool.get().unwrap();
    let tokens = refresh_tokens::table.select(RefreshRow::as_select()).load(&mut *conn).unwrap();
    let families = refresh_families::table.select(FamilyRow::as_select()).load(&mut *conn).unwrap();
    (tokens, families)
}

/// Whether `needle` occurs anywhere in the stored data: the SQLite files
/// (database and WAL) byte by byte, or every row of every PostgreSQL table.
fn stored_anywhere(app: &Spawned, needle: &str) -> bool {
    match &app.db.url {
        DatabaseUrl::Sqlite(path) => {
            let wal = path.with_extension("db-wal");
            [path.as_path(), wal.as_path()]
                .iter()
                .filter_map(|p| std::fs::read(p).ok())
                .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        }
        DatabaseUrl::Postgres(url) => {
            #[derive(QueryableByName)]
            struct Text {
                #[diesel(sql_type = diesel::sql_types::Text)]
                t: String,
            }
            let mut conn = diesel::pg::PgConnection::establish(url).unwrap();
            let tables: Vec<Text> = diesel::sql_query(
                "SELECT table_name::text AS t FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .load(&mut conn)
            .unwrap();
            assert!(tables.iter().any(|t| t.t == "refresh_tokens"), "the tables are visible");
            tables.iter().any(|table| {
                let rows: Vec<Text> =
                    diesel::sql_query(format!("SELECT row_to_json(r)::text AS t FROM \"{}\" r", table.t))
                        .load(&mut conn)
                        .unwrap();
                rows.iter().any(|r| r.t.contains(needle))
            })
        }
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

both_backends! {
    fn refresh_rotates_and_the_database_holds_only_hashes(backend) {
        let Some(app) = spawn_app_with(backend, |s| s.refresh_grace = Duration::ZERO) else { return };
        let s = signup(&app);
        let res = refresh(&app, &s.refresh);
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.header("cache-control"), Some("no-store"));
        let body = res.json();
        let first = refresh_of(&body);
        assert_ne!(first, s.refresh, "a successor, not the same token");
        assert_eq!(body["token_type"], "Bearer");
        let access = body["access_token"].as_str().unwrap();
        assert_ne!(access, s.access);
        assert_eq!(jwt_part(access, 1)["sub"], s.user_id.as_str());
        assert_me(&app, access, 200, "the refreshed access token");

        std::thread::sleep(PAST_ZERO_GRACE);
        let (access2, second) = refresh_ok(&app, &first);
        assert_me(&app, &access2, 200, "the successor's access token");
        assert_refresh_fails(&app, &s.refresh, "the used token after the grace");

        let (tokens, families) = session_rows(&app);
        assert_eq!((tokens.len(), families.len()), (3, 1), "one family of three tokens");
        for row in &tokens {
            assert!(is_sha256_hex(&row.token_hash), "{row:?}");
            assert!(row.successor_hash.as_deref().is_none_or(is_sha256_hex), "{row:?}");
        }
        assert!(stored_anywhere(&app, &s.email), "the search finds what is stored (the email)");
        for token in [&s.refresh, &first, &second] {
            let rows = format!("{tokens:?} {families:?}");
            assert!(!rows.contains(token.as_str()), "{token} is in the session rows");
            assert!(!stored_anywhere(&app, token), "{token} is stored in plaintext");
        }
    }

    fn reuse_after_the_grace_revokes_the_whole_family_and_only_it(backend) {
        let Some(app) = spawn_app_with(backend, |s| s.refresh_grace = Duration::ZERO) else { return };
        let s = signup(&app);
        let other = login(&app, &s, PASSWORD);
        let (_, successor) = refresh_ok(&app, &s.refresh);
        std::thread::sleep(PAST_ZERO_GRACE);
        assert_refresh_fails(&app, &s.refresh, "the used token presented again after the grace");
        assert_refresh_fails(&app, &successor, "the newest successor of a revoked family");
        let (access, _) = refresh_ok(&app, &other.refresh);
        assert_me(&app, &access, 200, "another session of the same user");
    }

    fn with_a_zero_grace_an_immediate_second_use_is_reuse(backend) {
        // TESSERA_REFRESH_GRACE=0 turns the grace off: no retry is "within 0 s".
        let Some(app) = spawn_app_with(backend, |s| s.refresh_grace = Duration::ZERO) else { return };
        let s = signup(&app);
        let (_, successor) = refresh_ok(&app, &s.refresh);
        assert_refresh_fails(&app, &s.refresh, "a second use with no grace");
        assert_refresh_fails(&app, &successor, "the family is revoked");
    }

    fn a_retry_within_the_grace_gets_the_same_successor_until_that_is_used(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let s = signup(&app);
        let (access1, b1) = refresh_ok(&app, &s.refresh);
        let (access2, b2) = refresh_ok(&app, &s.refresh);
        assert_eq!(b1, b2, "a retry within the grace gets the identical successor");
        assert_me(&app, &access1, 200, "the first response's access token");
        assert_me(&app, &access2, 200, "the retry's access token");
        let (_, c) = refresh_ok(&app, &b1);
        // The successor has been used: a retry of its parent is reuse now.
        assert_refresh_fails(&app, &s.refresh, "the parent after its successor was used");
        assert_refresh_fails(&app, &c, "the family is revoked");
        assert_refresh_fails(&app, &b1, "the family is revoked");
    }

    fn concurrent_refreshes_of_one_token_yield_exactly_one_successor(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let s = signup(&app);
        let n = 20;
        let barrier = Barrier::new(n);
        let results: Vec<Resp> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        refresh(&app, &s.refresh)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut successors: Vec<String> = Vec::new();
        for res in &results {
            assert!(res.status < 500, "no 5xx under concurrency: {} {}", res.status, res.body);
            assert_eq!(res.status, 200, "every retry within the grace succeeds: {}", res.body);
            let token = refresh_of(&res.json());
            if !successors.contains(&token) {
                successors.push(token);
            }
        }
        assert_eq!(successors.len(), 1, "one distinct successor: {successors:?}");
        let (access, _) = refresh_ok(&app, &successors[0]);
        assert_me(&app, &access, 200, "the one successor works");
    }

    fn logout_ends_that_session_only_and_answers_204_for_unknown_tokens(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let s = signup(&app);
        let other = login(&app, &s, PASSWORD);
        let (_, successor) = refresh_ok(&app, &s.refresh);
        let res = logout(&app, &successor);
        assert_eq!(res.status, 204, "{}", res.body);
        assert_refresh_fails(&app, &successor, "the logged-out session");
        assert_refresh_fails(&app, &s.refresh, "its ancestor");
        refresh_ok(&app, &other.refresh);
        for unknown in ["nope", "", &"A".repeat(43), &"x".repeat(5000), &s.access] {
            let res = logout(&app, unknown);
            assert_eq!(res.status, 204, "{unknown:?}: {}", res.body);
        }
        assert_eq!(logout(&app, &successor).status, 204, "logging out twice");
    }

    fn logout_all_ends_every_session_and_earlier_access_tokens(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let s = signup(&app);
        let second = login(&app, &s, PASSWORD);
        let bystander = signup(&app);
        let res = app.post_authed("/v1/logout-all", &s.access, &json!({}));
        assert_eq!(res.status, 204, "{}", res.body);
        for (session, name) in [(&s, "first"), (&second, "second")] {
            assert_refresh_fails(&app, &session.refresh, name);
            assert_me(&app, &session.access, 401, name);
        }
        // A login right after works at once, even within the same second.
        let fresh = login(&app, &s, PASSWORD);
        assert_me(&app, &fresh.access, 200, "a login right after logout-all");
        let (access, _) = refresh_ok(&app, &fresh.refresh);
        assert_me(&app, &access, 200, "a refresh of the new session");
        assert_me(&app, &bystander.access, 200, "another user");
        refresh_ok(&app, &bystander.refresh);
        let res = app.post_raw("/v1/logout-all", Some("application/json"), b"{}", &[]);
        assert_eq!(res.status, 401, "no bearer token: {}", res.body);
        assert_eq!(app.post_authed("/v1/logout-all", &s.access, &json!({})).status, 401, "an ended access token");
    }

    fn a_password_change_ends_every_session_of_the_user_only(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let s = signup(&app);
        let second = login(&app, &s, PASSWORD);
        let bystander = signup(&app);

        let res = change_password(&app, &s.access, "not the current password", NEW_PASSWORD);
        assert_eq!(res.status, 403, "{}", res.body);
        assert_eq!(res.error_code(), "invalid_credentials");
        let weak = COMMON_LIST.lines().find(|l| l.chars().count() >= 12).unwrap();
        let res = change_password(&app, &s.access, PASSWORD, weak);
        assert_eq!(res.status, 400, "{}", res.body);
        assert_eq!(res.error_code(), "weak_password");
        assert_me(&app, &s.access, 200, "refused changes end nothing");

        let res = change_password(&app, &s.access, PASSWORD, NEW_PASSWORD);
        assert_eq!(res.status, 204, "{}", res.body);
        let res = app.login(&s.email, PASSWORD);
        assert_eq!(res.status, 401, "the old password: {}", res.body);
        assert_eq!(res.error_code(), "invalid_credentials");
        for (session, name) in [(&s, "first"), (&second, "second")] {
            assert_refresh_fails(&app, &session.refresh, name);
            assert_me(&app, &session.access, 401, name);
        }
        let fresh = login(&app, &s, NEW_PASSWORD);
        assert_me(&app, &fresh.access, 200, "a login with the new password");
        refresh_ok(&app, &fresh.refresh);
        assert_me(&app, &bystander.access, 200, "another user");
        refresh_ok(&app, &bystander.refresh);
    }

    fn disabling_a_user_ends_their_sessions_only(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (_, admin) = app.new_admin();
        let s = signup(&app);
        let second = login(&app, &s, PASSWORD);
        let bystander = signup(&app);
        let res = app.patch_authed(&format!("/admin/users/{}", s.user_id), &admin, &json!({"disabled": true}));
        assert_eq!(res.status, 200, "{}", res.body);
        for (session, name) in [(&s, "first"), (&second, "second")] {
            assert_refresh_fails(&app, &session.refresh, name);
            assert_me(&app, &session.access, 401, name);
        }
        let res = app.login(&s.email, PASSWORD);
        assert_eq!(res.status, 401, "a disabled user cannot log in: {}", res.body);
        refresh_ok(&app, &bystander.refresh);
        assert_me(&app, &bystander.access, 200, "another user");
        assert_me(&app, &admin, 200, "the admin");
        // Enabling the user again revives none of the ended sessions.
        let res = app.patch_authed(&format!("/admin/users/{}", s.user_id), &admin, &json!({"disabled": false}));
        assert_eq!(res.status, 200, "{}", res.body);
        for (session, name) in [(&s, "first, after re-enabling"), (&second, "second, after re-enabling")] {
            assert_refresh_fails(&app, &session.refresh, name);
            assert_me(&app, &session.access, 401, name);
        }
        let fresh = login(&app, &s, PASSWORD);
        assert_me(&app, &fresh.access, 200, "a new login after re-enabling");
    }

    fn a_refresh_token_stops_working_when_its_session_expires(backend) {
        let Some(app) = spawn_app_with(backend, |s| s.refresh_ttl = Duration::from_secs(1)) else { return };
        let s = signup(&app);
        let (_, successor) = refresh_ok(&app, &s.refresh);
        std::thread::sleep(Duration::from_millis(2100));
        assert_refresh_fails(&app, &successor, "a refresh token of an expired session");
        let fresh = login(&app, &s, PASSWORD);
        refresh_ok(&app, &fresh.refresh);
    }

    fn a_login_right_after_logout_all_is_valid_for_verifiers_without_leeway(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let s = signup(&app);
        let res = app.post_authed("/v1/logout-all", &s.access, &json!({}));
        assert_eq!(res.status, 204, "{}", res.body);
        let fresh = login(&app, &s, PASSWORD);
        let now = tessera::time::now();
        let claims = jwt_part(&fresh.access, 1);
        // PyJWT, jose and others check nbf (and iat) against their own clock,
        // by default without leeway: a token dated in the future is refused.
        assert!(claims["nbf"].as_i64().unwrap() <= now, "nbf is in the future: {claims} at {now}");
        assert!(claims["iat"].as_i64().unwrap() <= now, "iat is in the future: {claims} at {now}");
        let (access, _) = refresh_ok(&app, &fresh.refresh);
        let claims = jwt_part(&access, 1);
        let now = tessera::time::now();
        assert!(claims["nbf"].as_i64().unwrap() <= now, "after a refresh, nbf is in the future: {claims} at {now}");
    }

    fn tokens_in_the_wrong_place_and_malformed_bodies_are_refused(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let s = signup(&app);
        let res = app.me(&s.refresh);
        assert_eq!(res.status, 401, "a refresh token as a bearer token: {}", res.body);
        assert_eq!(res.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
        assert_refresh_fails(&app, &s.access, "an access token as a refresh token");
        assert_refresh_fails(&app, "", "an empty refresh token");
        for body in [
            "{}",
            "{\"refresh_token\": 5}",
            "{\"refresh_token\": null}",
            "[\"x\"]",
            "not json",
            "{\"refresh_token\": \"x\", \"extra\": 1}",
        ] {
            for path in ["/v1/token/refresh", "/v1/logout"] {
                let res = app.post_raw(path, Some("application/json"), body.as_bytes(), &[]);
                assert_eq!(res.status, 400, "{path} {body}: {}", res.body);
                assert_eq!(res.error_code(), "invalid_request", "{path} {body}");
            }
        }
        let (access, _) = refresh_ok(&app, &s.refresh);
        assert_me(&app, &access, 200, "the session survived the refused requests");
    }
}

both_backends! {
    fn refreshes_racing_a_logout_all_leave_no_live_access_token(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (email, _) = app.new_user();
        let login = app.login(&email, PASSWORD).json();
        let access = login["access_token"].as_str().unwrap().to_owned();
        let first = login["refresh_token"].as_str().unwrap().to_owned();
        // Use it once, so every further use is a retry within the grace.
        assert_eq!(app.post_json("/v1/token/refresh", &serde_json::json!({"refresh_token": first})).status, 200);
        let done = std::sync::atomic::AtomicBool::new(false);
        let issued = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    while !done.load(std::sync::atomic::Ordering::SeqCst) {
                        let res = app.post_json("/v1/token/refresh", &serde_json::json!({"refresh_token": first}));
                        if res.status == 200 {
                            issued.lock().unwrap().push(res.json()["access_token"].as_str().unwrap().to_owned());
                        }
                    }
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            let res = app.post_authed("/v1/logout-all", &access, &serde_json::json!({}));
            assert_eq!(res.status, 204, "{}", res.body);
            std::thread::sleep(std::time::Duration::from_millis(200));
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let issued = issued.into_inner().unwrap();
        assert!(!issued.is_empty(), "some refreshes ran before the logout-all");
        for token in issued {
            assert_eq!(app.me(&token).status, 401, "an access token from a refresh survived logout-all");
        }
    }
}
