//! Key rotation, revocation, expiry and propagation between instances
//! (SPEC §3): verifiers that cache the JWKS never meet an unknown kid in a
//! normal rotation, and every instance converges within seconds.

use std::time::Duration;

use serde_json::{Value, json};
use tessera::db::keys::list_keys;
use tessera::keys::Alg;
use tessera::keys::rotation::{self, FaultAt, LifecycleError};

use crate::both_backends;
use crate::helpers::*;

/// (kid, alg, state) of every key row, sorted: the invariant-relevant state.
fn key_states(app: &TestApp) -> Vec<(String, String, String)> {
    let mut conn = app.state.pool.get().unwrap();
    let mut v: Vec<_> = list_keys(&mut conn).unwrap().into_iter().map(|k| (k.kid, k.alg, k.state)).collect();
    v.sort();
    v
}

/// Exactly one active and one next key per configured algorithm.
fn assert_invariant(app: &TestApp) {
    let states = key_states(app);
    for alg in ["RS256", "EdDSA"] {
        for state in ["active", "next"] {
            let n = states.iter().filter(|(_, a, s)| a == alg && s == state).count();
            assert_eq!(n, 1, "{alg} has {n} {state} keys: {states:?}");
        }
    }
}

fn kid_of(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().unwrap().to_owned()
}

/// Verifies `token` with jsonwebtoken using only `jwks` (a resource server's cached copy).
fn verifies_with_cached_jwks(jwks: &Value, token: &str, app: &TestApp) -> bool {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let Some(jwk) = set.find(&kid_of(token)) else { return false };
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let alg = jsonwebtoken::decode_header(token).unwrap().alg;
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[&app.state.tokens.issuer]);
    v.set_audience(&[&app.state.tokens.audience]);
    jsonwebtoken::decode::<Value>(token, &key, &v).is_ok()
}

fn rotate(app: &TestApp, admin: &str, body: Value) -> Resp {
    app.post_authed("/admin/keys/rotate", admin, &body)
}

both_backends! {
    fn a_rotation_promotes_the_prepublished_key_and_keeps_old_tokens_valid(backend) {
        let Some(app) = spawn_app_with(backend, |s| s.prepublish = Duration::ZERO) else { return };
        let (_, admin) = app.new_admin();
        let (email, before) = app.new_user();
        let cached = app.jwks();
        let old_active = app.active_kid(Alg::Rs256);
        let set = app.state.keys.current();
        let old_next = set.published().find(|k| k.alg() == Alg::Rs256 && k.kid != old_active).unwrap().kid.clone();
        assert!(app.jwks_kids().contains(&old_next), "the next key is published before it signs");

        let res = rotate(&app, &admin, json!({"alg": "RS256"}));
        assert_eq!(res.status, 200, "{}", res.body);
        let r = &res.json()["rotated"][0];
        assert_eq!((r["retired_kid"].as_str().unwrap(), r["active_kid"].as_str().unwrap()), (old_active.as_str(), old_next.as_str()));
        assert_invariant(&app);

        // New tokens carry the former next kid, which the cached JWKS already has.
        let after = app.login(&email, PASSWORD).json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(kid_of(&after), old_next);
        assert!(verifies_with_cached_jwks(&cached, &after, &app), "a verifier with a warm cache accepts the new key");
        // Tokens from before still verify, at tessera and from the new JWKS.
        assert_eq!(app.me(&before).status, 200);
        assert!(verifies_with_cached_jwks(&app.jwks(), &before, &app));
        // The JWKS lists active, then next, then retired.
        let kids = app.jwks_kids();
        let pos = |k: &str| kids.iter().position(|x| x == k).unwrap();
        let new_next = r["next_kid"].as_str().unwrap();
        assert!(pos(&old_next) < pos(new_next) && pos(new_next) < pos(&old_active), "{kids:?}");
    }

    fn a_rotation_is_refused_while_the_next_key_is_young_unless_forced(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (_, admin) = app.new_admin();
        let before = key_states(&app);
        let res = rotate(&app, &admin, json!({}));
        assert_eq!(res.status, 409);
        assert_eq!(res.error_code(), "next_key_too_young");
        let ready_at = res.json()["ready_at"].as_str().unwrap().to_owned();
        assert!(ready_at.ends_with('Z') && ready_at.len() == 20, "{ready_at}");
        assert_eq!(key_states(&app), before, "a refused rotation changes nothing");
        let res = rotate(&app, &admin, json!({"force": true}));
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.json()["rotated"].as_array().unwrap().len(), 2);
        assert_invariant(&app);
    }

    fn revoking_the_active_key_rejects_its_tokens_and_rotates_at_once(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (_, admin) = app.new_admin();
        let (email, token) = app.new_user();
        let kid = kid_of(&token);
        let res = app.post_authed(&format!("/admin/keys/{kid}/revoke"), &admin, &json!({}));
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.json()["revoked"]["rotated"]["retired_kid"], kid.as_str());
        assert!(!app.jwks_kids().contains(&kid), "gone from the JWKS at once");
        assert_eq!(app.me(&token).status, 401, "its tokens are rejected at once");
        let fresh = app.login(&email, PASSWORD).json()["access_token"].as_str().unwrap().to_owned();
        assert_ne!(kid_of(&fresh), kid);
        assert_eq!(app.me(&fresh).status, 200);
        assert_invariant(&app);
        // The private half is gone from the database.
        let mut conn = app.state.pool.get().unwrap();
        let row = tessera::db::keys::find_key(&mut conn, &kid).unwrap().unwrap();
        assert_eq!((row.state.as_str(), row.private_key.is_none()), ("revoked", true));
    }

    fn a_crash_at_any_step_of_a_rotation_or_revocation_leaves_the_old_state(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let before = key_states(&app);
        let mut conn = app.state.pool.get().unwrap();
        for step in 1..=4 {
            let mut ctx = app.state.key_context("test");
            ctx.fault = FaultAt(Some(step));
            let err = rotation::rotate(&mut conn, &[Alg::Rs256, Alg::EdDsa], true, &ctx).unwrap_err();
            assert!(matches!(err, LifecycleError::Fault(s) if s == step), "{err}");
            assert_eq!(key_states(&app), before, "after a fault at step {step}");
        }
        let active = app.active_kid(Alg::EdDsa);
        for step in [1, 2, 3, 4, 5] {
            let mut ctx = app.state.key_context("test");
            ctx.fault = FaultAt(Some(step));
            assert!(rotation::revoke(&mut conn, &active, &ctx).is_err());
            assert_eq!(key_states(&app), before, "after a fault at step {step} of a revocation");
        }
        assert_invariant(&app);
        // The same operations without a fault succeed, so the faults were real.
        let ctx = app.state.key_context("test");
        rotation::revoke(&mut conn, &active, &ctx).unwrap();
        rotation::rotate(&mut conn, &[Alg::Rs256], true, &ctx).unwrap();
        assert_invariant(&app);
    }

    fn retired_keys_expire_after_the_access_ttl_plus_60_seconds(backend) {
        let Some(app) = spawn_app_with(backend, |s| {
            s.prepublish = Duration::ZERO;
            s.access_ttl = Duration::from_secs(1);
        }) else { return };
        let mut conn = app.state.pool.get().unwrap();
        let ctx = app.state.key_context("test");
        let rotated = rotation::rotate(&mut conn, &[Alg::Rs256], false, &ctx).unwrap();
        let retired = rotated[0].retired_kid.clone();
        let row = tessera::db::keys::find_key(&mut conn, &retired).unwrap().unwrap();
        let retired_at = row.retired_at.unwrap();
        assert_eq!(row.expires_at, Some(retired_at + 1 + 60));
        app.eventually(5, "the instance reloads the rotated set", || app.active_kid(Alg::Rs256) == rotated[0].active_kid);
        assert!(app.jwks_kids().contains(&retired), "the retired key stays published");
        // The JWKS cache lifetime never reaches past the expiry.
        let res = app.get("/.well-known/jwks.json");
        let max_age: i64 = res.header("cache-control").unwrap().split("max-age=").nth(1).unwrap()
            .split(',').next().unwrap().parse().unwrap();
        assert!(max_age <= retired_at + 61 - tessera::time::now(), "max-age {max_age}");

        assert!(rotation::expire_due(&mut conn, retired_at + 60, "test").unwrap().is_empty(), "not before");
        assert_eq!(rotation::expire_due(&mut conn, retired_at + 61, "test").unwrap(), vec![retired.clone()]);
        let row = tessera::db::keys::find_key(&mut conn, &retired).unwrap().unwrap();
        assert_eq!((row.state.as_str(), row.private_key.is_none()), ("expired", true));
        app.eventually(5, "the expired key leaves the JWKS", || !app.jwks_kids().contains(&retired));
        assert_invariant(&app);
    }

    fn automatic_rotation_runs_when_the_interval_has_passed(backend) {
        let Some(app) = spawn_app_with(backend, |s| {
            s.prepublish = Duration::ZERO;
            s.rotation_interval = Some(Duration::from_secs(1));
        }) else { return };
        let first = app.active_kid(Alg::EdDsa);
        app.eventually(10, "a scheduled rotation", || app.active_kid(Alg::EdDsa) != first);
        assert_invariant(&app);
        let mut conn = app.state.pool.get().unwrap();
        let events = tessera::db::audit::list_events(&mut conn, 50, 0).unwrap();
        assert!(events.iter().any(|e| e.action == "key.rotated" && e.actor == "system"));
    }
}

/// Two instances on one PostgreSQL database, as behind a load balancer.
fn two_instances() -> Option<(TestDb, TestApp, TestApp)> {
    let db = TestDb::new(Backend::Postgres)?;
    let mut settings = test_settings(&db);
    settings.issuer = Some("http://tessera.test".into());
    settings.prepublish = Duration::ZERO;
    let a = start(settings.clone()).unwrap();
    let b = start(settings).unwrap();
    Some((db, a, b))
}

#[test]
fn a_rotation_on_one_instance_reaches_the_other_within_5_seconds() {
    let Some((_db, a, b)) = two_instances() else { return };
    let (_, admin) = a.new_admin();
    let res = rotate(&a, &admin, json!({"alg": "RS256"}));
    assert_eq!(res.status, 200, "{}", res.body);
    let r = res.json()["rotated"][0].clone();
    let new_next = r["next_kid"].as_str().unwrap().to_owned();
    // B accepts A's new tokens at once: an unknown kid makes it reload.
    let (_, token) = a.new_user();
    assert_eq!(kid_of(&token), r["active_kid"].as_str().unwrap());
    assert_eq!(b.me(&token).status, 200);
    b.eventually(5, "B publishes A's new next key", || b.jwks_kids().contains(&new_next));
    assert_eq!(a.jwks(), b.jwks());
    assert_eq!(a.get("/readyz").json()["key_set_version"], b.get("/readyz").json()["key_set_version"]);
}

#[test]
fn a_revocation_on_one_instance_is_enforced_by_the_other_within_5_seconds() {
    let Some((_db, a, b)) = two_instances() else { return };
    let (_, admin) = b.new_admin();
    let (_, token) = a.new_user();
    assert_eq!(a.me(&token).status, 200);
    let kid = kid_of(&token);
    let res = b.post_authed(&format!("/admin/keys/{kid}/revoke"), &admin, &json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    a.eventually(5, "A rejects tokens of the revoked key", || a.me(&token).status == 401);
    a.eventually(5, "A unpublishes the revoked key", || !a.jwks_kids().contains(&kid));
}

#[test]
fn concurrent_rotations_on_two_instances_keep_one_active_and_one_next_key() {
    let Some((_db, a, b)) = two_instances() else { return };
    let (_, admin) = a.new_admin();
    for _ in 0..3 {
        let barrier = std::sync::Barrier::new(2);
        let (ra, rb) = std::thread::scope(|s| {
            let ha = s.spawn(|| {
                barrier.wait();
                rotate(&a, &admin, json!({"force": true}))
            });
            let hb = s.spawn(|| {
                barrier.wait();
                rotate(&b, &admin, json!({"force": true}))
            });
            (ha.join().unwrap(), hb.join().unwrap())
        });
        for res in [&ra, &rb] {
            assert!(res.status == 200 || (res.status == 409 && res.error_code() == "conflict"), "{}", res.body);
        }
        assert!(ra.status == 200 || rb.status == 200, "at least one rotation wins");
        assert_invariant(&a);
    }
}
