//! Access tokens: what tessera issues (SPEC §2), and every way a presented
//! token is refused (SPEC §4): always the same 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use tessera::config::TokenTyp;
use tessera::keys::Alg;

use crate::both_backends;
use crate::helpers::*;

/// Asserts the uniform token rejection.
fn assert_rejected(app: &TestApp, token: &str, why: &str) {
    let res = app.me(token);
    assert_eq!(res.status, 401, "{why}: {}", res.body);
    assert_eq!(res.header("www-authenticate"), Some("Bearer error=\"invalid_token\""), "{why}");
    assert_eq!(
        res.json(),
        json!({"error": "invalid_token", "error_description": "the access token is missing, invalid or expired"}),
        "{why}"
    );
}

/// A user, their id, and a correctly signed header for the active RS256 key.
fn user_and_header(app: &TestApp) -> (String, Value) {
    let (_, token) = app.new_user();
    let sub = jwt_part(&token, 1)["sub"].as_str().unwrap().to_owned();
    (sub, json!({"alg": "RS256", "typ": "JWT", "kid": app.active_kid(Alg::Rs256)}))
}

both_backends! {
    fn issued_tokens_have_the_header_and_claims_of_the_spec(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let res = app.signup("Claims@Example.test", PASSWORD);
        assert_eq!(res.status, 201);
        let body = res.json();
        let token = body["access_token"].as_str().unwrap();
        let header = jwt_part(token, 0);
        assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "kid": app.active_kid(Alg::Rs256)}));
        let claims = jwt_part(token, 1);
        let keys: Vec<&str> = {
            let mut k: Vec<&str> = claims.as_object().unwrap().keys().map(String::as_str).collect();
            k.sort_unstable();
            k
        };
        assert_eq!(keys, ["aud", "email", "exp", "iat", "iss", "jti", "nbf", "role", "sub"]);
        assert_eq!(claims["iss"], app.address);
        assert_eq!(claims["aud"], app.address, "the audience defaults to the issuer");
        assert_eq!(claims["sub"], body["user"]["id"]);
        assert!(uuid::Uuid::parse_str(claims["sub"].as_str().unwrap()).is_ok());
        assert_eq!(claims["email"], "Claims@Example.test");
        assert_eq!(claims["role"], "user");
        let iat = claims["iat"].as_i64().unwrap();
        assert_eq!(claims["nbf"].as_i64().unwrap(), iat);
        assert_eq!(claims["exp"].as_i64().unwrap(), iat + 900);
        assert!((iat - tessera::time::now()).abs() <= 5);
        // jti is unique per token.
        let again = app.login("claims@example.test", PASSWORD).json();
        assert_ne!(jwt_part(again["access_token"].as_str().unwrap(), 1)["jti"], claims["jti"]);
    }

    fn eddsa_and_at_jwt_are_issued_when_configured(backend) {
        let Some(app) = spawn_app_with(backend, |s| {
            s.signing_alg = Alg::EdDsa;
            s.access_token_typ = TokenTyp::AtJwt;
        }) else { return };
        let (_, token) = app.new_user();
        assert_eq!(jwt_part(&token, 0), json!({"alg": "EdDSA", "typ": "at+jwt", "kid": app.active_kid(Alg::EdDsa)}));
        assert_eq!(app.me(&token).status, 200);
        // A token of the other type is refused.
        let (sub, _) = (jwt_part(&token, 1)["sub"].as_str().unwrap().to_owned(), ());
        let jwt_typed = app.forge(Alg::EdDsa, &json!({"alg": "EdDSA", "typ": "JWT", "kid": app.active_kid(Alg::EdDsa)}), &app.valid_claims(&sub));
        assert_rejected(&app, &jwt_typed, "typ JWT where at+jwt is configured");
    }

    fn a_correctly_forged_token_is_accepted_so_the_rejections_below_mean_something(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (sub, header) = user_and_header(&app);
        let token = app.forge(Alg::Rs256, &header, &app.valid_claims(&sub));
        assert_eq!(app.me(&token).status, 200);
        // typ compares case-insensitively; the scheme too.
        for typ in ["jwt", "application/jwt", "Application/JWT"] {
            let h = json!({"alg": "RS256", "typ": typ, "kid": header["kid"]});
            assert_eq!(app.me(&app.forge(Alg::Rs256, &h, &app.valid_claims(&sub))).status, 200, "typ {typ}");
        }
        let res = app.get_with("/v1/me", &[("Authorization", &format!("bearer {token}"))]);
        assert_eq!(res.status, 200);
        // Within the 30 s leeway.
        let now = tessera::time::now();
        let mut c = app.valid_claims(&sub);
        c["exp"] = json!(now - 10);
        c["iat"] = json!(now - 100);
        c["nbf"] = json!(now - 100);
        assert_eq!(app.me(&app.forge(Alg::Rs256, &header, &c)).status, 200, "expired 10 s ago");
        let mut c = app.valid_claims(&sub);
        c["nbf"] = json!(now + 10);
        c["iat"] = json!(now + 10);
        assert_eq!(app.me(&app.forge(Alg::Rs256, &header, &c)).status, 200, "issued 10 s ahead");
    }

    fn time_claims_outside_the_leeway_are_rejected(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (sub, header) = user_and_header(&app);
        let now = tessera::time::now();
        for (claim, value, why) in [
            ("exp", now - 60, "expired"),
            ("nbf", now + 120, "nbf in the future"),
            ("iat", now + 120, "iat in the future"),
        ] {
            let mut c = app.valid_claims(&sub);
            c[claim] = json!(value);
            assert_rejected(&app, &app.forge(Alg::Rs256, &header, &c), why);
        }
        // Issued after it expired (exp still inside the leeway): contradictory.
        let mut c = app.valid_claims(&sub);
        c["exp"] = json!(now - 20);
        c["iat"] = json!(now - 10);
        c["nbf"] = json!(now - 100);
        assert_rejected(&app, &app.forge(Alg::Rs256, &header, &c), "iat after exp");
        let mut c = app.valid_claims(&sub);
        c["exp"] = json!("9999999999");
        assert_rejected(&app, &app.forge(Alg::Rs256, &header, &c), "exp as a string");
    }

    fn wrong_or_missing_claims_are_rejected(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (sub, header) = user_and_header(&app);
        for (claim, value) in [
            ("iss", json!("https://evil.example")),
            ("aud", json!("https://other-api.example")),
            ("aud", json!(["https://other-api.example"])),
            ("sub", json!(uuid::Uuid::new_v4().to_string())),
        ] {
            let mut c = app.valid_claims(&sub);
            c[claim] = value.clone();
            assert_rejected(&app, &app.forge(Alg::Rs256, &header, &c), &format!("{claim} = {value}"));
        }
        for claim in ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"] {
            let mut c = app.valid_claims(&sub);
            c.as_object_mut().unwrap().remove(claim);
            assert_rejected(&app, &app.forge(Alg::Rs256, &header, &c), &format!("missing {claim}"));
        }
    }

    fn alg_none_in_any_case_is_rejected(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (sub, header) = user_and_header(&app);
        let claims = B64.encode(app.valid_claims(&sub).to_string());
        for alg in ["none", "None", "NONE", "nOnE"] {
            let h = B64.encode(json!({"alg": alg, "typ": "JWT", "kid": header["kid"]}).to_string());
            assert_rejected(&app, &format!("{h}.{claims}."), alg);
            assert_rejected(&app, &format!("{h}.{claims}"), alg);
            // ...and with the signature of a genuine token attached.
            let genuine = app.forge(Alg::Rs256, &header, &app.valid_claims(&sub));
            assert_rejected(&app, &format!("{h}.{claims}.{}", genuine.rsplit('.').next().unwrap()), alg);
        }
    }

    fn hs256_signed_with_the_public_key_is_rejected(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (sub, header) = user_and_header(&app);
        let jwks = app.jwks();
        let rsa = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).unwrap().clone();
        let n = B64.decode(rsa["n"].as_str().unwrap()).unwrap();
        let h = B64.encode(json!({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}).to_string());
        let c = B64.encode(app.valid_claims(&sub).to_string());
        let input = format!("{h}.{c}");
        for secret in [rsa.to_string().into_bytes(), n, header["kid"].as_str().unwrap().as_bytes().to_vec()] {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
            let sig = ring::hmac::sign(&key, input.as_bytes());
            assert_rejected(&app, &format!("{input}.{}", B64.encode(sig.as_ref())), "HS256 with public key");
        }
    }

    fn altered_or_stripped_tokens_are_rejected(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (sub, header) = user_and_header(&app);
        let token = app.forge(Alg::Rs256, &header, &app.valid_claims(&sub));
        let parts: Vec<&str> = token.split('.').collect();
        let mut admin = app.valid_claims(&sub);
        admin["role"] = json!("admin");
        let changed = format!("{}.{}.{}", parts[0], B64.encode(admin.to_string()), parts[2]);
        assert_rejected(&app, &changed, "payload changed");
        assert_rejected(&app, &format!("{}.{}.", parts[0], parts[1]), "signature stripped");
        assert_rejected(&app, &format!("{}.{}", parts[0], parts[1]), "two parts");
        assert_rejected(&app, &format!("{token}.{}.{}", parts[1], parts[2]), "five parts (JWE shape)");
        let mut sig = B64.decode(parts[2]).unwrap();
        sig[10] ^= 1;
        assert_rejected(&app, &format!("{}.{}.{}", parts[0], parts[1], B64.encode(sig)), "one bit of the signature");
        assert_rejected(&app, &format!("{}.{}.{}=", parts[0], parts[1], parts[2]), "padding");
        assert_rejected(&app, "not-a-token", "garbage");
    }

    fn unknown_or_injected_kids_are_rejected(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (sub, _) = user_and_header(&app);
        let jwks = app.jwks();
        let next_rs256 = jwks["keys"].as_array().unwrap().iter()
            .find(|k| k["alg"] == "RS256" && k["kid"] != app.active_kid(Alg::Rs256)).unwrap()["kid"].clone();
        for kid in [
            json!("unknown-kid"),
            json!("../../../../../dev/null"),
            json!("' OR '1'='1"),
            json!(""),
            json!(null),
            json!(42),
            next_rs256, // published, but it did not sign this token
        ] {
            let h = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
            assert_rejected(&app, &app.forge(Alg::Rs256, &h, &app.valid_claims(&sub)), &format!("kid {kid}"));
        }
        let no_kid = json!({"alg": "RS256", "typ": "JWT"});
        assert_rejected(&app, &app.forge(Alg::Rs256, &no_kid, &app.valid_claims(&sub)), "no kid");
    }

    fn key_reference_and_crit_headers_are_rejected(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (sub, header) = user_and_header(&app);
        let rsa_jwk = app.jwks()["keys"][0].clone();
        for (name, value) in [
            ("jku", json!("https://evil.example/jwks.json")),
            ("x5u", json!("https://evil.example/cert.pem")),
            ("jwk", rsa_jwk),
            ("x5c", json!(["MIIB"])),
            ("crit", json!(["exp"])),
            ("crit", json!([])),
            ("b64", json!(false)),
        ] {
            let mut h = header.clone();
            h[name] = value;
            assert_rejected(&app, &app.forge(Alg::Rs256, &h, &app.valid_claims(&sub)), name);
        }
        let mut no_typ = header.clone();
        no_typ.as_object_mut().unwrap().remove("typ");
        assert_rejected(&app, &app.forge(Alg::Rs256, &no_typ, &app.valid_claims(&sub)), "no typ");
        let mut other_typ = header.clone();
        other_typ["typ"] = json!("at+jwt");
        assert_rejected(&app, &app.forge(Alg::Rs256, &other_typ, &app.valid_claims(&sub)), "typ at+jwt where JWT is configured");
    }

    fn a_header_alg_other_than_the_keys_alg_is_rejected(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (sub, _) = user_and_header(&app);
        let rs_kid = app.active_kid(Alg::Rs256);
        let ed_kid = app.active_kid(Alg::EdDsa);
        // Signed by the RSA key but claiming EdDSA, and the other way round.
        let h = json!({"alg": "EdDSA", "typ": "JWT", "kid": rs_kid});
        assert_rejected(&app, &app.forge(Alg::Rs256, &h, &app.valid_claims(&sub)), "EdDSA header on the RSA key");
        let h = json!({"alg": "RS256", "typ": "JWT", "kid": ed_kid});
        assert_rejected(&app, &app.forge(Alg::EdDsa, &h, &app.valid_claims(&sub)), "RS256 header on the Ed25519 key");
        for alg in ["RS384", "RS512", "PS256", "ES256", "rs256"] {
            let h = json!({"alg": alg, "typ": "JWT", "kid": rs_kid});
            assert_rejected(&app, &app.forge(Alg::Rs256, &h, &app.valid_claims(&sub)), alg);
        }
        // The EdDSA key itself is fine for a token that says EdDSA.
        let h = json!({"alg": "EdDSA", "typ": "JWT", "kid": ed_kid});
        assert_eq!(app.me(&app.forge(Alg::EdDsa, &h, &app.valid_claims(&sub))).status, 200);
    }

    fn tokens_over_8_kib_and_double_headers_are_refused(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (sub, header) = user_and_header(&app);
        let padded = |len: usize| {
            let mut c = app.valid_claims(&sub);
            c["pad"] = json!("x".repeat(len));
            app.forge(Alg::Rs256, &header, &c)
        };
        let big = padded(6000);
        assert!(big.len() > 8192, "{}", big.len());
        assert_rejected(&app, &big, "longer than 8 KiB");
        let fits = padded(5000);
        assert!(fits.len() < 8192);
        assert_eq!(app.me(&fits).status, 200, "a valid token under 8 KiB is accepted");
        let token = app.forge(Alg::Rs256, &header, &app.valid_claims(&sub));
        let bearer = format!("Bearer {token}");
        let res = app.get_with("/v1/me", &[("Authorization", &bearer), ("Authorization", &bearer)]);
        assert_eq!(res.status, 401);
        assert_eq!(res.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
        // The query string is never read.
        let res = app.get(&format!("/v1/me?access_token={token}"));
        assert_eq!(res.status, 401);
    }
}
