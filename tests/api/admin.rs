//! The admin API (SPEC §3, §4): who may call it, the key list, rotation and
//! revocation, users (paging, role, disable), the audit log, and that no
//! private key material ever leaves through it.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tessera::keys::Alg;

use crate::both_backends;
use crate::helpers::*;

const KEY_FIELDS: [&str; 8] =
    ["kid", "alg", "state", "created_at", "activated_at", "retired_at", "expires_at", "revoked_at"];
const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];
const ALGS: [&str; 2] = ["RS256", "EdDSA"];

/// The `sub` claim of an access token.
fn sub(token: &str) -> String {
    jwt_part(token, 1)["sub"].as_str().unwrap().to_owned()
}

/// The `kid` header of an access token.
fn kid_of(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().unwrap().to_owned()
}

/// PATCH without a token (the helpers only have the authenticated form).
fn patch_anonymous(app: &TestApp, path: &str, body: &str) -> Resp {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut res = agent
        .patch(&app.url(path))
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .expect("the request completes");
    let headers =
        res.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
    let body = res.body_mut().read_to_string().unwrap_or_default();
    Resp { status: res.status().as_u16(), headers, body }
}

/// Sends `method path` with an optional bearer token and JSON body.
fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: &str) -> Resp {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let auth: Vec<(&str, &str)> = bearer.iter().map(|b| ("Authorization", b.as_str())).collect();
    match (method, token) {
        ("GET", _) => app.get_with(path, &auth),
        ("POST", _) => app.post_raw(path, Some("application/json"), body.as_bytes(), &auth),
        ("PATCH", Some(t)) => app.patch_authed(path, t, &serde_json::from_str(body).unwrap()),
        ("PATCH", None) => patch_anonymous(app, path, body),
        _ => unreachable!("{method}"),
    }
}

/// A fresh access token for the user `id` (after their old one was made invalid).
fn relogin(app: &TestApp, id: &str) -> String {
    let user = tessera::db::users::find_user(&mut app.state.pool.get().unwrap(), id).unwrap().unwrap();
    let res = app.login(&user.email, PASSWORD);
    assert_eq!(res.status, 200, "{}", res.body);
    res.json()["access_token"].as_str().unwrap().to_owned()
}

/// (role, disabled) of a user, read from the database.
fn role_and_disabled(app: &TestApp, id: &str) -> (String, bool) {
    let user = tessera::db::users::find_user(&mut app.state.pool.get().unwrap(), id).unwrap().unwrap();
    (user.role, user.disabled_at.is_some())
}

/// `GET /admin/keys` as `token`: the key objects.
fn admin_keys(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.get_authed("/admin/keys", token);
    assert_eq!(res.status, 200, "{}", res.body);
    res.json()["keys"].as_array().unwrap_or_else(|| panic!("no keys array: {}", res.body)).clone()
}

/// The one kid of `alg` in `state`; panics if there is not exactly one.
fn kid_in(keys: &[Value], alg: &str, state: &str) -> String {
    let found: Vec<&Value> = keys.iter().filter(|k| k["alg"] == alg && k["state"] == state).collect();
    assert_eq!(found.len(), 1, "expected one {state} {alg} key in {keys:#?}");
    found[0]["kid"].as_str().unwrap().to_owned()
}

/// Asserts that every algorithm has exactly one active and one next key.
fn assert_one_active_one_next(keys: &[Value]) {
    for alg in ALGS {
        kid_in(keys, alg, "active");
        kid_in(keys, alg, "next");
    }
}

/// Every audit event, newest first, read as `token` in one page.
fn audit_events(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.get_authed("/admin/audit?limit=200", token);
    assert_eq!(res.status, 200, "{}", res.body);
    let v = res.json();
    assert!(v["next_offset"].is_null(), "more than 200 audit events: {v}");
    v["events"].as_array().unwrap_or_else(|| panic!("no events array: {v}")).clone()
}

fn unix(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339:?} is not RFC 3339: {e}"))
        .timestamp()
}

fn assert_instant(v: &Value, what: &str) {
    let s = v.as_str().unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    assert!(s.ends_with('Z'), "{what} {s:?} is not UTC with a Z");
    unix(s);
}

/// The plaintext PKCS#8 of every key that still has a private half in the database.
pub fn private_keys(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    let rows = tessera::db::keys::list_keys(&mut app.state.pool.get().unwrap()).unwrap();
    rows.iter()
        .filter_map(|row| {
            let sealed = row.private_key.as_ref()?;
            Some((row.kid.clone(), app.state.master.decrypt(&row.kid, sealed).unwrap().to_vec()))
        })
        .collect()
}

/// 40-character windows of the base64url (no pad) and standard base64 forms
/// of the private parts of `pkcs8`. Ed25519 (ring, PKCS#8 v2, 83 bytes): the
/// seed at bytes 16..48 (the public key after it is published as `x`), also
/// encoded on its own as a JWK `d` would be. RSA: from the second quarter on,
/// past the modulus, where only private values (d, p, q, …) are.
fn secret_windows(pkcs8: &[u8]) -> Vec<String> {
    let mut windows = Vec::new();
    if pkcs8.len() == 83 {
        let seed = &pkcs8[16..48];
        for encoded in [URL_SAFE_NO_PAD.encode(pkcs8), STANDARD.encode(pkcs8)] {
            windows.extend((22..=24).map(|at| encoded[at..at + 40].to_owned()));
        }
        windows.push(URL_SAFE_NO_PAD.encode(seed)[..40].to_owned());
        windows.push(STANDARD.encode(seed)[..40].to_owned());
        return windows;
    }
    for encoded in [URL_SAFE_NO_PAD.encode(pkcs8), STANDARD.encode(pkcs8)] {
        let mut at = encoded.len() / 4;
        while at + 40 <= encoded.len() {
            windows.push(encoded[at..at + 40].to_owned());
            at += 20;
        }
    }
    windows
}

/// Fails if `text` holds any private member name as a JSON key or any part of
/// the encoded private keys `secrets`.
pub fn assert_no_private_material(what: &str, text: &str, secrets: &[(String, Vec<u8>)]) {
    for (kid, pkcs8) in secrets {
        for window in secret_windows(pkcs8) {
            assert!(!text.contains(&window), "{what} contains private key material of {kid}: {text}");
        }
    }
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        assert_no_private_members(what, &v);
    }
}

fn assert_no_private_members(what: &str, v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, inner) in map {
                assert!(!PRIVATE_MEMBERS.contains(&k.as_str()), "{what} has a private member {k:?}: {v}");
                assert_no_private_members(what, inner);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| assert_no_private_members(what, i)),
        _ => {}
    }
}

both_backends! {
    fn every_admin_endpoint_refuses_no_token_and_a_non_admin_and_changes_nothing(backend) {
        // With no prepublish wait, a rotation that got through would succeed.
        let Some(app) = spawn_app_with(backend, |s| s.prepublish = Duration::ZERO) else { return };
        let (_, admin) = app.new_admin();
        let (_, user) = app.new_user();
        let user_id = sub(&user);
        let keys_before = admin_keys(&app, &admin);
        let jwks_before = app.jwks();
        let audit_before = audit_events(&app, &admin);
        let revoke = format!("/admin/keys/{}/revoke", app.active_kid(Alg::Rs256));
        let patch = format!("/admin/users/{user_id}");
        let requests = [
            ("GET", "/admin/keys", ""),
            ("POST", "/admin/keys/rotate", r#"{"force": true}"#),
            ("POST", revoke.as_str(), ""),
            ("GET", "/admin/users", ""),
            ("PATCH", patch.as_str(), r#"{"role": "admin"}"#),
            ("GET", "/admin/audit", ""),
        ];
        for (method, path, body) in requests {
            let res = call(&app, method, path, None, body);
            assert_eq!(res.status, 401, "{method} {path} without a token: {}", res.body);
            assert!(
                res.header("WWW-Authenticate").is_some_and(|v| v.starts_with("Bearer")),
                "{method} {path} without a token: {:?}",
                res.headers
            );
            res.error_code();
            let res = call(&app, method, path, Some("not.a.token"), body);
            assert_eq!(res.status, 401, "{method} {path} with garbage: {}", res.body);
            assert_eq!(res.header("WWW-Authenticate"), Some(r#"Bearer error="invalid_token""#), "{method} {path}");
            let res = call(&app, method, path, Some(&user), body);
            assert_eq!(res.status, 403, "{method} {path} as a user: {}", res.body);
            assert_eq!(res.error_code(), "forbidden", "{method} {path} as a user");
        }
        assert_eq!(admin_keys(&app, &admin), keys_before, "a refused request changed the keys");
        assert_eq!(app.jwks(), jwks_before, "a refused request changed the JWKS");
        assert_eq!(role_and_disabled(&app, &user_id), ("user".to_owned(), false));
        assert_eq!(app.me(&user).json()["role"], "user");
        assert_eq!(audit_events(&app, &admin), audit_before, "a refused request wrote an audit event");
    }

    fn a_demoted_admin_loses_access_at_once_with_their_old_token(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (_, first) = app.new_admin();
        let (second_id, second) = app.new_admin();
        assert_eq!(app.get_authed("/admin/keys", &second).status, 200);

        let res = app.patch_authed(&format!("/admin/users/{second_id}"), &first, &json!({"role": "user"}));
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.json()["role"], "user");

        // The token still says role=admin; the database says otherwise, and wins.
        assert_eq!(jwt_part(&second, 1)["role"], "admin");
        for (method, path, body) in
            [("GET", "/admin/keys", ""), ("POST", "/admin/keys/rotate", r#"{"force": true}"#), ("GET", "/admin/audit", "")]
        {
            let res = call(&app, method, path, Some(&second), body);
            assert_eq!(res.status, 403, "{method} {path}: {}", res.body);
            assert_eq!(res.error_code(), "forbidden");
        }
        let res = app.patch_authed(&format!("/admin/users/{second_id}"), &second, &json!({"role": "admin"}));
        assert_eq!(res.status, 403, "a demoted admin promoted themselves back: {}", res.body);
        assert_eq!(role_and_disabled(&app, &second_id).0, "user");
    }

    fn admin_keys_lists_every_key_with_exactly_the_documented_fields(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (admin_id, admin) = app.new_admin();
        // Have a key in every reachable state: active, next, retired, revoked.
        let res = app.post_authed("/admin/keys/rotate", &admin, &json!({"force": true}));
        assert_eq!(res.status, 200, "{}", res.body);
        let admin = relogin(&app, &admin_id);
        let retired = kid_in(&admin_keys(&app, &admin), "EdDSA", "retired");
        let res = app.post_authed(&format!("/admin/keys/{retired}/revoke"), &admin, &json!({}));
        assert_eq!(res.status, 200, "{}", res.body);

        let keys = admin_keys(&app, &admin);
        let expected: BTreeSet<&str> = KEY_FIELDS.into_iter().collect();
        for key in &keys {
            let fields: BTreeSet<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(fields, expected, "{key}");
            assert!(ALGS.contains(&key["alg"].as_str().unwrap()), "{key}");
            for field in &KEY_FIELDS[3..] {
                if !key[field].is_null() {
                    assert_instant(&key[field], field);
                }
            }
            assert_instant(&key["created_at"], "created_at");
            let set = |f: &str| !key[f].is_null();
            match key["state"].as_str().unwrap() {
                "active" => assert!(set("activated_at") && !set("retired_at") && !set("revoked_at"), "{key}"),
                "next" => assert!(!set("activated_at") && !set("retired_at") && !set("revoked_at"), "{key}"),
                "retired" => assert!(set("activated_at") && set("retired_at") && set("expires_at"), "{key}"),
                "revoked" => assert!(set("revoked_at"), "{key}"),
                other => panic!("unexpected state {other}: {key}"),
            }
        }
        assert_one_active_one_next(&keys);
        kid_in(&keys, "RS256", "retired");
        assert_eq!(kid_in(&keys, "EdDSA", "revoked"), retired);

        let listed: BTreeSet<String> = keys.iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
        let stored: BTreeSet<String> = tessera::db::keys::list_keys(&mut app.state.pool.get().unwrap())
            .unwrap()
            .into_iter()
            .map(|r| r.kid)
            .collect();
        assert_eq!(listed, stored, "GET /admin/keys does not list every key");
        assert_eq!(listed.len(), 6);
    }

    fn rotate_refuses_a_young_next_key_unless_forced_and_rotates_what_it_is_asked(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (admin_id, admin) = app.new_admin();
        let before = admin_keys(&app, &admin);
        let jwks_before = app.jwks();

        for body in [Some(json!({})), Some(json!({"force": false})), None] {
            let res = match &body {
                Some(b) => app.post_authed("/admin/keys/rotate", &admin, b),
                None => app.post_raw("/admin/keys/rotate", None, b"", &[("Authorization", &format!("Bearer {admin}"))]),
            };
            assert_eq!(res.status, 409, "{body:?}: {}", res.body);
            assert_eq!(res.error_code(), "next_key_too_young");
            let ready_at = res.json()["ready_at"].as_str().unwrap_or_else(|| panic!("no ready_at: {}", res.body)).to_owned();
            assert!(ready_at.ends_with('Z'), "{ready_at}");
            let ready_at = unix(&ready_at);
            let next_created: Vec<i64> = before
                .iter()
                .filter(|k| k["state"] == "next")
                .map(|k| unix(k["created_at"].as_str().unwrap()))
                .collect();
            assert!(
                next_created.iter().any(|c| (ready_at - (c + 7200)).abs() <= 2),
                "ready_at {ready_at} is not 2 h after a next key's creation {next_created:?}"
            );
        }
        assert_eq!(admin_keys(&app, &admin), before, "a refused rotation changed the keys");
        assert_eq!(app.jwks(), jwks_before);

        let res = app.post_authed("/admin/keys/rotate", &admin, &json!({"force": true}));
        assert_eq!(res.status, 200, "{}", res.body);
        let rotated = res.json()["rotated"].as_array().unwrap_or_else(|| panic!("no rotated: {}", res.body)).clone();
        let mut algs: Vec<&str> = rotated.iter().map(|r| r["alg"].as_str().unwrap()).collect();
        algs.sort_unstable();
        assert_eq!(algs, ["EdDSA", "RS256"], "{rotated:?}");
        let after = admin_keys(&app, &admin);
        let jwks = app.jwks_kids();
        for r in &rotated {
            let alg = r["alg"].as_str().unwrap();
            assert_eq!(r["retired_kid"], kid_in(&before, alg, "active").as_str(), "{r}");
            assert_eq!(r["active_kid"], kid_in(&before, alg, "next").as_str(), "{r}");
            assert_eq!(r["next_kid"], kid_in(&after, alg, "next").as_str(), "{r}");
            assert_eq!(r["retired_kid"], kid_in(&after, alg, "retired").as_str(), "{r}");
            assert_eq!(r["active_kid"], kid_in(&after, alg, "active").as_str(), "{r}");
            assert!(!before.iter().any(|k| k["kid"] == r["next_kid"]), "the next key is not new: {r}");
            for kid in ["retired_kid", "active_kid", "next_kid"] {
                assert!(jwks.iter().any(|k| *k == r[kid]), "{kid} of {r} is not in the JWKS {jwks:?}");
            }
        }
        assert_eq!(app.active_kid(Alg::Rs256), kid_in(&after, "RS256", "active"));

        let admin = relogin(&app, &admin_id);
        let res = app.post_authed("/admin/keys/rotate", &admin, &json!({"alg": "EdDSA", "force": true}));
        assert_eq!(res.status, 200, "{}", res.body);
        let rotated = res.json()["rotated"].clone();
        assert_eq!(rotated.as_array().map(Vec::len), Some(1), "{rotated}");
        assert_eq!(rotated[0]["alg"], "EdDSA");
        let only_eddsa = admin_keys(&app, &admin);
        assert_one_active_one_next(&only_eddsa);
        for state in ["active", "next"] {
            assert_eq!(kid_in(&only_eddsa, "RS256", state), kid_in(&after, "RS256", state), "RS256 {state} changed");
        }
        assert_eq!(rotated[0]["active_kid"], kid_in(&after, "EdDSA", "next").as_str());

        // Nothing below may rotate anything: a typo must not mean "rotate all".
        let bearer = format!("Bearer {admin}");
        let auth = [("Authorization", bearer.as_str())];
        let json_ct = Some("application/json");
        let refused: [(Option<&str>, &str); 9] = [
            (json_ct, r#"{"alg": "HS256"}"#),
            (json_ct, r#"{"alg": "HS256", "force": true}"#),
            (json_ct, r#"{"alg": "none", "force": true}"#),
            (json_ct, r#"{"force": true,"#),
            (json_ct, r#"{"forse": true}"#),
            (json_ct, r#"{"force": "yes"}"#),
            (json_ct, r#"[{"force": true}]"#),
            (json_ct, "force=true"),
            (Some("text/plain"), r#"{"force": true}"#),
        ];
        for (content_type, body) in refused {
            let res = app.post_raw("/admin/keys/rotate", content_type, body.as_bytes(), &auth);
            let expected: &[u16] = if content_type == json_ct { &[400] } else { &[400, 415] };
            assert!(expected.contains(&res.status), "{content_type:?} {body:?} answered {}: {}", res.status, res.body);
            res.error_code();
        }
        assert_eq!(admin_keys(&app, &admin), only_eddsa, "a refused rotation changed the keys");
    }

    fn an_empty_rotate_body_rotates_every_algorithm_once_next_keys_are_ready(backend) {
        let Some(app) = spawn_app_with(backend, |s| s.prepublish = Duration::ZERO) else { return };
        let (admin_id, admin) = app.new_admin();
        let before = admin_keys(&app, &admin);
        let res = app.post_raw("/admin/keys/rotate", None, b"", &[("Authorization", &format!("Bearer {admin}"))]);
        assert_eq!(res.status, 200, "{}", res.body);
        let rotated = res.json()["rotated"].as_array().unwrap().clone();
        assert_eq!(rotated.len(), 2, "{rotated:?}");
        let after = admin_keys(&app, &admin);
        for alg in ALGS {
            assert_eq!(kid_in(&after, alg, "active"), kid_in(&before, alg, "next"), "{alg} was not rotated");
        }
        // `{}` without force is a rotation of everything too, now that the next keys are ready.
        let admin = relogin(&app, &admin_id);
        let res = app.post_authed("/admin/keys/rotate", &admin, &json!({}));
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.json()["rotated"].as_array().map(Vec::len), Some(2), "{}", res.body);
    }

    fn revoke_unpublishes_a_key_and_rejects_its_tokens_at_once(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (admin_id, admin) = app.new_admin();
        let (_, user) = app.new_user();

        let res = app.post_authed("/admin/keys/no-such-kid/revoke", &admin, &json!({}));
        assert_eq!(res.status, 404, "{}", res.body);
        res.error_code();

        let active = app.active_kid(Alg::Rs256);
        assert_eq!(kid_of(&user), active);
        let res = app.post_authed(&format!("/admin/keys/{active}/revoke"), &admin, &json!({}));
        assert_eq!(res.status, 200, "{}", res.body);
        let revoked = res.json()["revoked"].clone();
        assert_eq!(revoked["kid"], active.as_str(), "{revoked}");
        assert!(!app.jwks_kids().contains(&active), "a revoked key is still published");
        let res = app.me(&user);
        assert_eq!(res.status, 401, "a token of a revoked key still works: {}", res.body);
        assert_eq!(res.header("WWW-Authenticate"), Some(r#"Bearer error="invalid_token""#));
        assert_eq!(app.get_authed("/admin/keys", &admin).status, 401, "the admin's token was signed by it too");

        let admin = relogin(&app, &admin_id);
        let new_kid = kid_of(&admin);
        assert_ne!(new_kid, active);
        assert_eq!(revoked["rotated"]["active_kid"], new_kid.as_str(), "{revoked}");
        let keys = admin_keys(&app, &admin);
        assert_one_active_one_next(&keys);
        let row = keys.iter().find(|k| k["kid"] == active.as_str()).unwrap();
        assert_eq!(row["state"], "revoked", "{row}");
        assert_instant(&row["revoked_at"], "revoked_at");

        let res = app.post_authed(&format!("/admin/keys/{active}/revoke"), &admin, &json!({}));
        assert_eq!(res.status, 409, "{}", res.body);
        assert_eq!(res.error_code(), "key_not_revocable");

        let next = kid_in(&keys, "EdDSA", "next");
        let res = app.post_authed(&format!("/admin/keys/{next}/revoke"), &admin, &json!({}));
        assert_eq!(res.status, 200, "{}", res.body);
        let jwks = app.jwks_kids();
        assert!(!jwks.contains(&next), "a revoked next key is still published");
        let keys_after = admin_keys(&app, &admin);
        assert_one_active_one_next(&keys_after);
        let fresh = kid_in(&keys_after, "EdDSA", "next");
        assert!(!keys.iter().any(|k| k["kid"] == fresh.as_str()), "no fresh next key");
        assert!(jwks.contains(&fresh), "the fresh next key is not published: {jwks:?}");
    }

    fn revoking_a_retired_key_rejects_the_tokens_it_signed(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (admin_id, admin) = app.new_admin();
        let (_, user) = app.new_user();
        let old = kid_of(&user);
        let res = app.post_authed("/admin/keys/rotate", &admin, &json!({"alg": "RS256", "force": true}));
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(app.me(&user).status, 200, "a retired key still verifies");
        assert!(app.jwks_kids().contains(&old));

        let res = app.post_authed(&format!("/admin/keys/{old}/revoke"), &admin, &json!({}));
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.json()["revoked"]["previous_state"], "retired", "{}", res.body);
        assert!(!app.jwks_kids().contains(&old));
        assert_eq!(app.me(&user).status, 401, "a token of a revoked retired key still works");
        let admin = relogin(&app, &admin_id);
        assert_one_active_one_next(&admin_keys(&app, &admin));
    }

    fn admin_users_pages_through_every_user_without_password_hashes(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (admin_id, admin) = app.new_admin();
        let mut ids = BTreeSet::from([admin_id]);
        for _ in 0..4 {
            ids.insert(sub(&app.new_user().1));
        }
        let mut seen = Vec::new();
        let mut offsets = Vec::new();
        let mut offset = Some(0);
        while let Some(o) = offset {
            let res = app.get_authed(&format!("/admin/users?limit=2&offset={o}"), &admin);
            assert_eq!(res.status, 200, "{}", res.body);
            assert!(!res.body.contains("$argon2") && !res.body.contains("password"), "{}", res.body);
            let v = res.json();
            let users = v["users"].as_array().unwrap_or_else(|| panic!("no users: {v}"));
            assert!(users.len() <= 2, "{v}");
            for u in users {
                assert!(u["email"].is_string() && (u["role"] == "user" || u["role"] == "admin"), "{u}");
                assert_instant(&u["created_at"], "created_at");
                seen.push(u["id"].as_str().unwrap().to_owned());
            }
            offset = v["next_offset"].as_i64();
            assert!(offset.is_some() || v["next_offset"].is_null(), "{v}");
            offsets.push(v["next_offset"].clone());
            assert!(offsets.len() < 10, "paging does not end: {offsets:?}");
        }
        assert_eq!(offsets, [json!(2), json!(4), Value::Null]);
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), ids);

        for query in ["limit=0", "limit=500", "offset=-1", "limit=abc"] {
            let res = app.get_authed(&format!("/admin/users?{query}"), &admin);
            assert_eq!(res.status, 400, "{query}: {}", res.body);
            res.error_code();
        }
    }

    fn a_user_made_admin_can_use_the_admin_api_with_their_existing_token(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (_, admin) = app.new_admin();
        let (_, user) = app.new_user();
        let id = sub(&user);
        assert_eq!(app.get_authed("/admin/keys", &user).status, 403);
        let res = app.patch_authed(&format!("/admin/users/{id}"), &admin, &json!({"role": "admin"}));
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.json()["id"], id.as_str());
        assert_eq!(res.json()["role"], "admin");
        assert_eq!(app.get_authed("/admin/keys", &user).status, 200);
        assert_eq!(app.me(&user).json()["role"], "admin");
    }

    fn disabling_a_user_rejects_their_token_and_login_until_re_enabled(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (_, admin) = app.new_admin();
        let (email, user) = app.new_user();
        let path = format!("/admin/users/{}", sub(&user));
        assert_eq!(app.me(&user).status, 200);

        let res = app.patch_authed(&path, &admin, &json!({"disabled": true}));
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.json()["disabled"], true, "{}", res.body);
        let res = app.me(&user);
        assert_eq!(res.status, 401, "a disabled user's token still works: {}", res.body);
        assert_eq!(res.header("WWW-Authenticate"), Some(r#"Bearer error="invalid_token""#));
        let res = app.login(&email, PASSWORD);
        assert_eq!(res.status, 401, "{}", res.body);
        assert_eq!(res.error_code(), "invalid_credentials");

        let res = app.patch_authed(&path, &admin, &json!({"disabled": false}));
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.json()["disabled"], false, "{}", res.body);
        let res = app.login(&email, PASSWORD);
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(app.me(res.json()["access_token"].as_str().unwrap()).status, 200);
    }

    fn a_token_issued_before_a_disable_stays_rejected_after_re_enabling(backend) {
        // SPEC §5: disabling makes the verifier reject access tokens issued
        // before that moment, for good. Tokens carry whole seconds, so the
        // case that matters is a token from the same second as the disable.
        let Some(app) = spawn_app(backend) else { return };
        let (_, admin) = app.new_admin();
        let (email, _) = app.new_user();
        let mut attempts = 0;
        let (id, token) = loop {
            attempts += 1;
            let token = app.login(&email, PASSWORD).json()["access_token"].as_str().unwrap().to_owned();
            let id = sub(&token);
            let res = app.patch_authed(&format!("/admin/users/{id}"), &admin, &json!({"disabled": true}));
            assert_eq!(res.status, 200, "{}", res.body);
            let disabled_at = unix(res.json()["disabled_at"].as_str().unwrap());
            let res = app.patch_authed(&format!("/admin/users/{id}"), &admin, &json!({"disabled": false}));
            assert_eq!(res.status, 200, "{}", res.body);
            if jwt_part(&token, 1)["iat"].as_i64() == Some(disabled_at) || attempts == 5 {
                break (id, token);
            }
        };
        assert!(!role_and_disabled(&app, &id).1);
        let res = app.me(&token);
        assert_eq!(res.status, 401, "a token issued before the user was disabled works again after re-enabling");
    }

    fn patch_refuses_an_unknown_id_an_empty_patch_and_bad_values(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (_, admin) = app.new_admin();
        let (_, user) = app.new_user();
        let id = sub(&user);
        let audit_before = audit_events(&app, &admin);

        let res = app.patch_authed(&format!("/admin/users/{}", uuid::Uuid::new_v4()), &admin, &json!({"role": "admin"}));
        assert_eq!(res.status, 404, "{}", res.body);
        res.error_code();
        let path = format!("/admin/users/{id}");
        for body in [
            json!({}),
            json!({"role": "root"}),
            json!({"role": "Admin"}),
            json!({"disabled": "yes"}),
            json!({"admin": true}),
            json!({"role": "admin", "extra": 1}),
            json!([]),
        ] {
            let res = app.patch_authed(&path, &admin, &body);
            assert_eq!(res.status, 400, "{body}: {}", res.body);
            res.error_code();
        }
        assert_eq!(role_and_disabled(&app, &id), ("user".to_owned(), false));
        assert_eq!(audit_events(&app, &admin), audit_before);
    }

    fn the_only_enabled_admin_cannot_demote_or_disable_themselves(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (admin_id, admin) = app.new_admin();
        let (other_id, _) = app.new_admin();
        // The other admin is disabled: it does not count.
        let res = app.patch_authed(&format!("/admin/users/{other_id}"), &admin, &json!({"disabled": true}));
        assert_eq!(res.status, 200, "{}", res.body);
        let audit_before = audit_events(&app, &admin);

        let path = format!("/admin/users/{admin_id}");
        for body in [json!({"role": "user"}), json!({"disabled": true}), json!({"role": "user", "disabled": true})] {
            let res = app.patch_authed(&path, &admin, &body);
            assert_eq!(res.status, 409, "{body}: {}", res.body);
            assert_eq!(res.error_code(), "last_admin", "{body}");
        }
        assert_eq!(role_and_disabled(&app, &admin_id), ("admin".to_owned(), false));
        assert_eq!(app.get_authed("/admin/keys", &admin).status, 200);
        assert_eq!(audit_events(&app, &admin), audit_before, "a refused change wrote an audit event");

        // With the other admin enabled again, stepping down is allowed.
        let res = app.patch_authed(&format!("/admin/users/{other_id}"), &admin, &json!({"disabled": false}));
        assert_eq!(res.status, 200, "{}", res.body);
        let res = app.patch_authed(&path, &admin, &json!({"role": "user"}));
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(app.get_authed("/admin/keys", &admin).status, 403);
    }

    fn every_admin_change_is_in_the_audit_log_with_the_admin_as_actor(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (admin_id, admin) = app.new_admin();
        let (_, user) = app.new_user();
        let user_id = sub(&user);
        let events_before = audit_events(&app, &admin).len();

        let res = app.post_authed("/admin/keys/rotate", &admin, &json!({"alg": "EdDSA", "force": true}));
        assert_eq!(res.status, 200, "{}", res.body);
        let rotated = res.json()["rotated"][0].clone();
        let next = rotated["next_kid"].as_str().unwrap().to_owned();
        let res = app.post_authed(&format!("/admin/keys/{next}/revoke"), &admin, &json!({}));
        assert_eq!(res.status, 200, "{}", res.body);
        let fresh = kid_in(&admin_keys(&app, &admin), "EdDSA", "next");
        let user_path = format!("/admin/users/{user_id}");
        for body in [json!({"role": "admin"}), json!({"disabled": true}), json!({"disabled": false})] {
            let res = app.patch_authed(&user_path, &admin, &body);
            assert_eq!(res.status, 200, "{body}: {}", res.body);
        }

        let events = audit_events(&app, &admin);
        let new: Vec<&Value> = events[..events.len() - events_before].iter().collect();
        for e in &events {
            let fields: BTreeSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(fields, BTreeSet::from(["id", "at", "actor", "action", "subject", "details"]), "{e}");
            assert_instant(&e["at"], "at");
        }
        for e in &new {
            assert_eq!(e["actor"], admin_id.as_str(), "{e}");
        }
        let ats: Vec<i64> = events.iter().map(|e| unix(e["at"].as_str().unwrap())).collect();
        assert!(ats.windows(2).all(|w| w[0] >= w[1]), "not newest first: {ats:?}");
        let actions: Vec<(&str, &str)> =
            new.iter().map(|e| (e["action"].as_str().unwrap(), e["subject"].as_str().unwrap())).collect();
        let position = |action: &str, subject: &str| {
            actions
                .iter()
                .position(|a| *a == (action, subject))
                .unwrap_or_else(|| panic!("no {action} of {subject} in {actions:?}"))
        };
        let created_next = position("key.created", &next);
        let rotation = position("key.rotated", "EdDSA");
        let revoked = position("key.revoked", &next);
        let created_fresh = position("key.created", &fresh);
        let role = position("user.role_changed", &user_id);
        let disabled = position("user.disabled", &user_id);
        let enabled = position("user.enabled", &user_id);
        // Newest first: the last change comes first.
        assert!(enabled < disabled && disabled < role, "{actions:?}");
        assert!(role < revoked && revoked.max(created_fresh) < rotation.min(created_next), "{actions:?}");
        assert_eq!(new.len(), 7, "{actions:?}");
        let role_event = new[role];
        assert_eq!(role_event["details"]["from"], "user", "{role_event}");
        assert_eq!(role_event["details"]["to"], "admin", "{role_event}");

        // Page by page, one event at a time, the same list.
        let mut paged = Vec::new();
        let mut offset = Some(0);
        while let Some(o) = offset {
            let res = app.get_authed(&format!("/admin/audit?limit=1&offset={o}"), &admin);
            assert_eq!(res.status, 200, "{}", res.body);
            let v = res.json();
            let page = v["events"].as_array().unwrap();
            assert!(page.len() <= 1, "{v}");
            paged.extend(page.iter().cloned());
            offset = v["next_offset"].as_i64();
            assert!(paged.len() <= events.len(), "paging does not end");
        }
        assert_eq!(paged, events);
        assert_eq!(app.get_authed("/admin/audit?limit=0", &admin).status, 400);
    }

    fn no_admin_response_or_jwks_carries_private_key_material(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (admin_id, admin) = app.new_admin();
        let mut secrets = private_keys(&app);
        let mut bodies = Vec::new();

        let res = app.post_authed("/admin/keys/rotate", &admin, &json!({"force": true}));
        assert_eq!(res.status, 200, "{}", res.body);
        bodies.push(("rotate", res.body));
        secrets.extend(private_keys(&app));
        let admin = relogin(&app, &admin_id);
        let keys = admin_keys(&app, &admin);
        for kid in [kid_in(&keys, "EdDSA", "active"), kid_in(&keys, "EdDSA", "next"), kid_in(&keys, "RS256", "retired")]
        {
            let res = app.post_authed(&format!("/admin/keys/{kid}/revoke"), &admin, &json!({}));
            assert_eq!(res.status, 200, "{}", res.body);
            bodies.push(("revoke", res.body));
        }
        secrets.extend(private_keys(&app));
        for path in ["/admin/keys", "/admin/audit", "/admin/users"] {
            bodies.push((path, app.get_authed(path, &admin).body));
        }
        for path in ["/.well-known/jwks.json", "/.well-known/jwks.json?alg=RS256", "/.well-known/jwks.json?alg=EdDSA"] {
            bodies.push((path, app.get(path).body));
        }
        assert!(secrets.len() >= 8, "{} private keys", secrets.len());
        for (what, body) in &bodies {
            assert!(!body.is_empty(), "{what}");
            assert_no_private_material(what, body, &secrets);
        }
    }
}

#[test]
fn two_admins_disabling_each_other_at_once_leave_one_enabled_admin() {
    let Some(app) = spawn_app(Backend::Postgres) else { return };
    for round in 0..5 {
        let (a, a_token) = app.new_admin();
        let (b, b_token) = app.new_admin();
        // Demote every other admin first, so these two are the only enabled ones.
        let mut conn = app.state.pool.get().unwrap();
        for user in tessera::db::users::list_users(&mut conn, 200, 0).unwrap() {
            if user.role == "admin" && user.id != a && user.id != b {
                tessera::db::users::set_role(&mut conn, &user.id, "user", 0).unwrap();
            }
        }
        drop(conn);
        let barrier = std::sync::Barrier::new(2);
        let body = serde_json::json!({"disabled": true});
        let (ra, rb) = std::thread::scope(|s| {
            let ha = s.spawn(|| {
                barrier.wait();
                app.patch_authed(&format!("/admin/users/{b}"), &a_token, &body)
            });
            let hb = s.spawn(|| {
                barrier.wait();
                app.patch_authed(&format!("/admin/users/{a}"), &b_token, &body)
            });
            (ha.join().unwrap(), hb.join().unwrap())
        });
        let mut statuses = [ra.status, rb.status];
        statuses.sort_unstable();
        // One wins; the other is refused: as the last admin (409), or because
        // its own admin was disabled first (401 before its request was
        // authorised, 403 when re-checked inside its transaction).
        assert!(
            [[200, 409], [200, 401], [200, 403]].contains(&statuses),
            "round {round}: {statuses:?} {} {}",
            ra.body,
            rb.body
        );
        let mut conn = app.state.pool.get().unwrap();
        let enabled = tessera::db::users::list_users(&mut conn, 200, 0)
            .unwrap()
            .into_iter()
            .filter(|u| u.role == "admin" && u.disabled_at.is_none())
            .count();
        assert_eq!(enabled, 1, "round {round}");
    }
}
