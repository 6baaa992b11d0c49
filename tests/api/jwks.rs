//! The JWKS and what a verifier needs around it: the key members, RFC 7638
//! kids, caching headers and ETags, verification with a third-party library
//! given nothing but the published set, discovery and health.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tessera::keys::Alg;

use crate::both_backends;
use crate::helpers::*;

const JWKS: &str = "/.well-known/jwks.json";
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "k", "oth"];

/// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
fn thumbprint(jwk: &Value) -> String {
    let s = |name: &str| jwk[name].as_str().unwrap_or_else(|| panic!("no {name} in {jwk}")).to_owned();
    let canonical = match s("kty").as_str() {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
        other => panic!("unexpected kty {other}"),
    };
    B64.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
}

/// Decodes a member that must be base64url without padding.
fn b64url(jwk: &Value, name: &str) -> Vec<u8> {
    let v = jwk[name].as_str().unwrap_or_else(|| panic!("no {name} in {jwk}"));
    assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{name} is not base64url: {v}");
    B64.decode(v).unwrap_or_else(|e| panic!("{name} does not decode ({e}): {v}"))
}

/// Fails if any object anywhere in `v` has a private-key member.
fn assert_no_private_members(v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, inner) in map {
                assert!(!PRIVATE_MEMBERS.contains(&k.as_str()), "private member {k:?} published in {v}");
                assert_no_private_members(inner);
            }
        }
        Value::Array(items) => items.iter().for_each(assert_no_private_members),
        _ => {}
    }
}

fn keys(doc: &Value) -> &Vec<Value> {
    doc["keys"].as_array().unwrap_or_else(|| panic!("no keys array in {doc}"))
}

fn kids(doc: &Value) -> Vec<String> {
    keys(doc).iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

/// The state of every key, as the database has it.
fn states(db: &TestDb) -> Vec<(String, String, String)> {
    let mut conn = tessera::db::establish(&db.url).unwrap();
    tessera::db::keys::list_keys(&mut conn).unwrap().into_iter().map(|r| (r.kid, r.alg, r.state)).collect()
}

/// GET on an absolute URL (a metadata link), answering (status, body).
fn fetch(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut res = agent.get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (res.status().as_u16(), res.body_mut().read_to_string().unwrap())
}

/// Verifies `token` with jsonwebtoken, knowing only the JWKS served over HTTP.
/// Returns the claims and the JWK that verified it.
fn verify_with_jwks_only(app: &TestApp, token: &str) -> (Value, Value) {
    let fetched = app.get(JWKS);
    assert_eq!(fetched.status, 200);
    let set: JwkSet = serde_json::from_str(&fetched.body).expect("a JWK Set jsonwebtoken understands");
    let header = jsonwebtoken::decode_header(token).unwrap();
    let kid = header.kid.clone().expect("the token header names its kid");
    let jwk = set.find(&kid).unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&app.state.tokens.issuer]);
    validation.set_audience(&[&app.state.tokens.audience]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("the token verifies");
    let raw = fetched.json()["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap().clone();
    (data.claims, raw)
}

both_backends! {
    fn jwks_has_an_active_and_a_next_key_per_algorithm_active_first(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let doc = app.jwks();
        assert_eq!(keys(&doc).len(), 4, "{doc}");
        let db_states = states(&app.db);
        let state_of = |kid: &str| db_states.iter().find(|(k, _, _)| k == kid).map(|(_, _, s)| s.clone()).unwrap();
        let order: Vec<(String, String)> =
            keys(&doc).iter().map(|k| (state_of(k["kid"].as_str().unwrap()), k["alg"].as_str().unwrap().into())).collect();
        assert_eq!(order[0].0, "active", "{order:?}");
        assert_eq!(order[1].0, "active", "{order:?}");
        assert_eq!(order[2].0, "next", "{order:?}");
        assert_eq!(order[3].0, "next", "{order:?}");
        for state in ["active", "next"] {
            let mut algs: Vec<&str> = order.iter().filter(|(s, _)| s == state).map(|(_, a)| a.as_str()).collect();
            algs.sort_unstable();
            assert_eq!(algs, ["EdDSA", "RS256"], "{state} keys: {order:?}");
        }
        let active: Vec<String> = kids(&doc)[..2].to_vec();
        assert!(active.contains(&app.active_kid(Alg::Rs256)));
        assert!(active.contains(&app.active_kid(Alg::EdDsa)));
    }

    fn jwks_keys_have_the_public_members_only_and_thumbprint_kids(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let res = app.get(JWKS);
        let doc = res.json();
        assert_no_private_members(&doc);
        for key in keys(&doc) {
            for member in ["kty", "kid", "use", "alg"] {
                assert!(key[member].is_string(), "no {member} in {key}");
            }
            assert_eq!(key["use"], "sig", "{key}");
            match key["kty"].as_str().unwrap() {
                "RSA" => {
                    assert_eq!(key["alg"], "RS256", "{key}");
                    let n = b64url(key, "n");
                    assert_eq!(n.len(), 256, "a 2048-bit modulus is 256 bytes: {key}");
                    assert_ne!(n[0], 0, "n has a leading zero byte: {key}");
                    assert_eq!(key["e"], "AQAB", "{key}");
                    b64url(key, "e");
                }
                "OKP" => {
                    assert_eq!(key["alg"], "EdDSA", "{key}");
                    assert_eq!(key["crv"], "Ed25519", "{key}");
                    assert_eq!(b64url(key, "x").len(), 32, "{key}");
                }
                other => panic!("unexpected kty {other}"),
            }
            assert_eq!(key["kid"].as_str().unwrap(), thumbprint(key), "the kid is the RFC 7638 thumbprint");
        }
    }

    fn jwks_alg_filter_serves_only_that_algorithm(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let all = kids(&app.jwks());
        for (alg, kty) in [("RS256", "RSA"), ("EdDSA", "OKP")] {
            let res = app.get(&format!("{JWKS}?alg={alg}"));
            assert_eq!(res.status, 200, "{}", res.body);
            let doc = res.json();
            assert_eq!(keys(&doc).len(), 2, "{doc}");
            for key in keys(&doc) {
                assert_eq!(key["kty"], kty, "{doc}");
                assert_eq!(key["alg"], alg, "{doc}");
                assert!(all.contains(&key["kid"].as_str().unwrap().to_owned()));
            }
            assert_no_private_members(&doc);
        }
    }

    fn jwks_headers_allow_caching_cors_and_conditional_requests(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let res = app.get(JWKS);
        assert_eq!(res.status, 200);
        let cache = res.header("Cache-Control").expect("Cache-Control");
        assert!(cache.contains("public"), "{cache}");
        assert!(cache.contains("max-age=300"), "{cache}");
        assert!(cache.contains("stale-if-error="), "{cache}");
        assert_eq!(res.header("Access-Control-Allow-Origin"), Some("*"));
        let ct = res.header("Content-Type").expect("Content-Type");
        assert!(ct.starts_with("application/json"), "{ct}");
        let etag = res.header("ETag").expect("ETag").to_owned();
        assert!(!etag.starts_with("W/"), "the ETag must be strong: {etag}");
        assert!(etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'), "{etag}");

        let not_modified = app.get_with(JWKS, &[("If-None-Match", &etag)]);
        assert_eq!(not_modified.status, 304);
        assert!(not_modified.body.is_empty(), "{:?}", not_modified.body);
        assert_eq!(not_modified.header("ETag"), Some(etag.as_str()));
        assert!(not_modified.header("Cache-Control").is_some_and(|c| c.contains("max-age=300")));

        let other = app.get_with(JWKS, &[("If-None-Match", "\"something-else\"")]);
        assert_eq!(other.status, 200);
        assert_eq!(other.json(), res.json());

        let weak = format!("W/{etag}");
        assert_eq!(app.get_with(JWKS, &[("If-None-Match", &weak)]).status, 304);
        let list = format!("\"a\", W/\"b\", {etag}");
        assert_eq!(app.get_with(JWKS, &[("If-None-Match", &list)]).status, 304);
    }

    fn jwks_filtered_views_have_their_own_etags(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let all = app.get(JWKS).header("ETag").unwrap().to_owned();
        let rsa = app.get(&format!("{JWKS}?alg=RS256"));
        let ed = app.get(&format!("{JWKS}?alg=EdDSA"));
        let (rsa_tag, ed_tag) = (rsa.header("ETag").unwrap().to_owned(), ed.header("ETag").unwrap().to_owned());
        assert_ne!(all, rsa_tag);
        assert_ne!(all, ed_tag);
        assert_ne!(rsa_tag, ed_tag);
        assert_eq!(app.get_with(&format!("{JWKS}?alg=RS256"), &[("If-None-Match", &all)]).status, 200);
        assert_eq!(app.get_with(&format!("{JWKS}?alg=RS256"), &[("If-None-Match", &rsa_tag)]).status, 304);
        assert_eq!(app.get_with(&format!("{JWKS}?alg=EdDSA"), &[("If-None-Match", &ed_tag)]).status, 304);
        assert_eq!(app.get_with(JWKS, &[("If-None-Match", &rsa_tag)]).status, 200);
    }

    fn rs256_token_verifies_with_jsonwebtoken_given_only_the_jwks(backend) {
        let Some(app) = spawn_app(backend) else { return };
        verifies_with_jwks_only(&app, "RS256", "RSA");
    }

    fn eddsa_token_verifies_with_jsonwebtoken_given_only_the_jwks(backend) {
        let Some(app) = spawn_app_with(backend, |s| s.signing_alg = Alg::EdDsa) else { return };
        verifies_with_jwks_only(&app, "EdDSA", "OKP");
    }

    fn discovery_documents_name_the_issuer_and_a_working_jwks_uri(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (_, token) = app.new_user();
        let iss = jwt_part(&token, 1)["iss"].clone();
        let jwks = app.jwks();
        for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
            let res = app.get(path);
            assert_eq!(res.status, 200, "{path}: {}", res.body);
            assert_eq!(res.header("Access-Control-Allow-Origin"), Some("*"), "{path}");
            let meta = res.json();
            assert_eq!(meta["issuer"], iss, "{path}: {meta}");
            let uri = meta["jwks_uri"].as_str().unwrap_or_else(|| panic!("{path}: no jwks_uri in {meta}"));
            let (status, body) = fetch(uri);
            assert_eq!(status, 200, "{uri}");
            assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), jwks, "{uri}");
        }
    }

    fn readyz_reports_ready_with_a_key_set_version_and_healthz_is_ok(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let ready = app.get("/readyz");
        assert_eq!(ready.status, 200, "{}", ready.body);
        let body = ready.json();
        assert_eq!(body["status"], "ready", "{body}");
        assert!(body["key_set_version"].as_str().is_some_and(|v| !v.is_empty()), "{body}");
        let health = app.get("/healthz");
        assert_eq!(health.status, 200, "{}", health.body);
    }
}

/// Signs up, then verifies the access token with jsonwebtoken and the fetched JWKS alone.
fn verifies_with_jwks_only(app: &TestApp, alg: &str, kty: &str) {
    let res = app.signup(&format!("verify-{}@example.test", uuid::Uuid::new_v4().simple()), PASSWORD);
    assert_eq!(res.status, 201, "{}", res.body);
    let body = res.json();
    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let expected = match alg {
        "RS256" => Algorithm::RS256,
        _ => Algorithm::EdDSA,
    };
    assert_eq!(header.alg, expected);
    let (claims, jwk) = verify_with_jwks_only(app, token);
    assert_eq!(jwk["kty"], kty);
    assert_eq!(claims["sub"], body["user"]["id"], "{claims}");
    assert_eq!(claims["email"], body["user"]["email"], "{claims}");
    assert_eq!(claims["role"], "user", "{claims}");
    assert_eq!(header.kid.as_deref(), Some(thumbprint(&jwk).as_str()), "the header kid is the key's thumbprint");
}
