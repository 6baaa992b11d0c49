//! The OAuth 2.0 endpoints (SPEC §4, §6): the token endpoint with
//! client_credentials and refresh_token (RFC 6749, errors of §5.2), revocation
//! (RFC 7009), introspection (RFC 7662), their discovery metadata, and
//! `tessera clients create|list|delete` run as the real binary.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tessera::config::{DatabaseUrl, MasterKeySource};
use tessera::keys::Alg;

use crate::both_backends;
use crate::helpers::*;

const FORM: &str = "application/x-www-form-urlencoded";
const TOKEN: &str = "/oauth2/token";
const CLIENT_CREDENTIALS: [(&str, &str); 1] = [("grant_type", "client_credentials")];

/// A service client created straight in the app's database: (id, secret).
fn new_client(app: &TestApp, scopes: &[&str], audience: Option<&str>, alg: Alg) -> (String, String) {
    let mut conn = app.state.pool.get().unwrap();
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    let (row, secret) =
        tessera::auth::clients::create_client(&mut conn, "test client", &scopes, audience, alg).unwrap();
    (row.id, secret)
}

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// `Authorization: Basic …` as RFC 6749 §2.3.1 builds it (each part form-urlencoded first).
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

/// POSTs a form body to `path` with extra headers.
fn post_form(app: &TestApp, path: &str, pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> Resp {
    app.post_raw(path, Some(FORM), encode(pairs).as_bytes(), headers)
}

/// POSTs a form body authenticated with client_secret_basic.
fn post_basic(app: &TestApp, path: &str, client: &(String, String), pairs: &[(&str, &str)]) -> Resp {
    post_form(app, path, pairs, &[("Authorization", &basic(&client.0, &client.1))])
}

/// POSTs a form body authenticated with client_secret_post.
fn post_secret(app: &TestApp, path: &str, client: &(String, String), pairs: &[(&str, &str)]) -> Resp {
    let mut all = vec![("client_id", client.0.as_str()), ("client_secret", client.1.as_str())];
    all.extend_from_slice(pairs);
    post_form(app, path, &all, &[])
}

fn assert_oauth_error(res: &Resp, status: u16, code: &str, why: &str) {
    assert_eq!(res.status, status, "{why}: {}", res.body);
    assert_eq!(res.error_code(), code, "{why}");
}

/// A successful client_credentials response: asserts its shape, returns the access token.
fn client_token(res: &Resp, scope: &str) -> String {
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "expires_in", "scope", "token_type"], "no refresh_token: {body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().is_some_and(|n| n > 0), "{body}");
    assert_eq!(body["scope"], scope);
    body["access_token"].as_str().unwrap().to_owned()
}

/// Verifies `token` offline with the published JWKS and `aud`, as a resource server would.
fn verify_offline(app: &TestApp, token: &str, aud: &str) -> Value {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(app.jwks()).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("the kid is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[&app.state.tokens.issuer]);
    v.set_audience(&[aud]);
    jsonwebtoken::decode::<Value>(token, &key, &v).unwrap().claims
}

/// Signs up a user: (user id, email, access token, refresh token).
fn user_session(app: &TestApp) -> (String, String, String, String) {
    let email = format!("oauth-{}@example.test", uuid::Uuid::new_v4().simple());
    let res = app.signup(&email, PASSWORD);
    assert_eq!(res.status, 201, "{}", res.body);
    let body = res.json();
    let field = |k: &str| body[k].as_str().unwrap().to_owned();
    (body["user"]["id"].as_str().unwrap().to_owned(), email, field("access_token"), field("refresh_token"))
}

fn refresh(app: &TestApp, token: &str) -> Resp {
    app.post_json("/v1/token/refresh", &json!({ "refresh_token": token }))
}

fn introspect(app: &TestApp, client: &(String, String), token: &str) -> Value {
    let res = post_basic(app, "/oauth2/introspect", client, &[("token", token)]);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    res.json()
}

fn assert_inactive(app: &TestApp, client: &(String, String), token: &str, why: &str) {
    assert_eq!(introspect(app, client, token), json!({"active": false}), "{why}");
}

both_backends! {
    fn client_credentials_issues_a_scoped_token_by_basic_and_by_post(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let api = new_client(&app, &["read", "write"], Some("https://api.example.test"), Alg::EdDsa);
        let plain = new_client(&app, &["read"], None, Alg::Rs256);

        let res = post_basic(&app, TOKEN, &api, &CLIENT_CREDENTIALS);
        let token = client_token(&res, "read write");
        let header = jwt_part(&token, 0);
        assert_eq!(header["alg"], "EdDSA", "the client's algorithm");
        assert_eq!(header["kid"], app.active_kid(Alg::EdDsa).as_str());
        let claims = verify_offline(&app, &token, "https://api.example.test");
        assert_eq!(claims["sub"], api.0.as_str());
        assert_eq!(claims["client_id"], api.0.as_str());
        assert_eq!(claims["scope"], "read write");
        assert_eq!(claims["aud"], "https://api.example.test");
        assert!(claims.get("email").is_none() && claims.get("role").is_none(), "{claims}");
        assert_eq!(app.me(&token).status, 401, "a service client is not a user");

        let res = post_secret(&app, TOKEN, &plain, &CLIENT_CREDENTIALS);
        let token = client_token(&res, "read");
        assert_eq!(jwt_part(&token, 0)["alg"], "RS256");
        let claims = verify_offline(&app, &token, &app.state.tokens.audience);
        assert_eq!((&claims["sub"], &claims["client_id"]), (&json!(plain.0), &json!(plain.0)));
        assert_eq!(claims["aud"], app.state.tokens.audience.as_str(), "the default audience");

        let res = post_basic(&app, TOKEN, &api, &[("grant_type", "client_credentials"), ("scope", "write")]);
        let token = client_token(&res, "write");
        assert_eq!(jwt_part(&token, 1)["scope"], "write", "a subset is granted as asked");

        for scope in ["read admin", "admin", "write"] {
            let res = post_secret(&app, TOKEN, &plain, &[("grant_type", "client_credentials"), ("scope", scope)]);
            assert_oauth_error(&res, 400, "invalid_scope", scope);
        }
    }

    fn the_token_endpoint_answers_every_rfc_6749_error(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let client = new_client(&app, &["read"], None, Alg::Rs256);
        let cc = CLIENT_CREDENTIALS;

        let res = post_basic(&app, TOKEN, &client, &[]);
        assert_oauth_error(&res, 400, "invalid_request", "missing grant_type");
        for grant in ["password", "authorization_code", "urn:ietf:params:oauth:grant-type:device_code"] {
            let pairs = [("grant_type", grant), ("username", "a"), ("password", "b")];
            let res = post_basic(&app, TOKEN, &client, &pairs);
            assert_oauth_error(&res, 400, "unsupported_grant_type", grant);
        }
        let res = post_form(&app, TOKEN, &cc, &[]);
        assert_oauth_error(&res, 401, "invalid_client", "client_credentials without client authentication");

        // A wrong secret and an unknown client are indistinguishable.
        let wrong = (client.0.clone(), "not-the-secret".to_owned());
        let unknown = (uuid::Uuid::new_v4().to_string(), client.1.clone());
        let by_basic = [post_basic(&app, TOKEN, &wrong, &cc), post_basic(&app, TOKEN, &unknown, &cc)];
        let by_post = [post_secret(&app, TOKEN, &wrong, &cc), post_secret(&app, TOKEN, &unknown, &cc)];
        for [a, b] in [&by_basic, &by_post] {
            assert_oauth_error(a, 401, "invalid_client", "a wrong secret");
            assert_eq!((a.status, &a.body), (b.status, &b.body), "the same answer for an unknown client");
            assert_eq!(headers_but_date(a), headers_but_date(b));
        }
        let challenge = by_basic[0].header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Basic"), "client_secret_basic gets a Basic challenge: {challenge:?}");

        let mut both = vec![("client_id", client.0.as_str()), ("client_secret", client.1.as_str())];
        both.extend_from_slice(&cc);
        let res = post_basic(&app, TOKEN, &client, &both);
        assert_oauth_error(&res, 400, "invalid_request", "basic and post at once");

        let twice = "grant_type=client_credentials&grant_type=client_credentials";
        let auth = basic(&client.0, &client.1);
        let res = app.post_raw(TOKEN, Some(FORM), twice.as_bytes(), &[("Authorization", &auth)]);
        assert_oauth_error(&res, 400, "invalid_request", "grant_type twice");
        let as_json = json!({"grant_type": "client_credentials"}).to_string();
        for ct in [Some("application/json"), Some("text/plain"), None] {
            let res = app.post_raw(TOKEN, ct, as_json.as_bytes(), &[("Authorization", &auth)]);
            assert_oauth_error(&res, 400, "invalid_request", &format!("content type {ct:?}"));
        }

        let (_, _, _, refresh_token) = user_session(&app);
        let grant = [("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())];
        let res = post_basic(&app, TOKEN, &client, &grant);
        assert_oauth_error(&res, 400, "unauthorized_client", "a refresh_token grant with client authentication");
        let res = post_form(&app, TOKEN, &[("grant_type", "refresh_token"), ("refresh_token", "bogus")], &[]);
        assert_oauth_error(&res, 400, "invalid_grant", "a bad refresh token");
        let res = post_form(&app, TOKEN, &[("grant_type", "refresh_token")], &[]);
        assert_oauth_error(&res, 400, "invalid_request", "no refresh_token parameter");

        let big = format!("grant_type=client_credentials&token=x&pad={}", "a".repeat(17 * 1024));
        for path in [TOKEN, "/oauth2/revoke", "/oauth2/introspect"] {
            let res = app.post_raw(path, Some(FORM), big.as_bytes(), &[("Authorization", &auth)]);
            assert_oauth_error(&res, 413, "payload_too_large", &format!("{path}: a body over 16 KiB"));
        }
        // A charset parameter on the form type is fine.
        let with_charset = Some("application/x-www-form-urlencoded; charset=UTF-8");
        let res = app.post_raw(TOKEN, with_charset, b"grant_type=client_credentials", &[("Authorization", &auth)]);
        client_token(&res, "read");
        // None of it touched the session.
        assert_eq!(refresh(&app, &refresh_token).status, 200);
    }

    fn the_refresh_token_grant_rotates_like_the_refresh_endpoint(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (user_id, _, _, first) = user_session(&app);
        let grant = |t: &str| post_form(&app, TOKEN, &[("grant_type", "refresh_token"), ("refresh_token", t)], &[]);
        // A public client names itself with client_id alone (RFC 6749 §3.2.1): no client authentication.
        let public = [("grant_type", "refresh_token"), ("refresh_token", first.as_str()), ("client_id", "web-app")];
        let res = post_form(&app, TOKEN, &public, &[]);
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.header("cache-control"), Some("no-store"));
        let body = res.json();
        assert_eq!(body["token_type"], "Bearer");
        let successor = body["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(successor.len(), 43);
        assert_ne!(successor, first);
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(jwt_part(access, 1)["sub"], user_id.as_str());
        assert_eq!(app.me(access).status, 200);
        // A retry within the grace gets the same successor, as on /v1/token/refresh.
        assert_eq!(grant(&first).json()["refresh_token"], successor.as_str());
        let res = refresh(&app, &successor);
        assert_eq!(res.status, 200, "the successor works on /v1/token/refresh: {}", res.body);
        let next = res.json()["refresh_token"].as_str().unwrap().to_owned();
        assert_oauth_error(&grant(&first), 400, "invalid_grant", "the parent after its successor was used");
        assert_oauth_error(&grant(&next), 400, "invalid_grant", "the family is revoked");
    }

    fn revocation_ends_refresh_families_and_access_tokens(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let client = new_client(&app, &["read"], None, Alg::Rs256);
        let (_, email, access, first) = user_session(&app);
        let res = refresh(&app, &first);
        assert_eq!(res.status, 200, "{}", res.body);
        let successor = res.json()["refresh_token"].as_str().unwrap().to_owned();

        let pairs = [("token", successor.as_str()), ("token_type_hint", "refresh_token")];
        let res = post_form(&app, "/oauth2/revoke", &pairs, &[]);
        assert_eq!(res.status, 200, "{}", res.body);
        for (t, why) in [(&successor, "the revoked token"), (&first, "its parent")] {
            let res = refresh(&app, t);
            assert_oauth_error(&res, 400, "invalid_grant", why);
        }

        let pairs = [("token", access.as_str()), ("token_type_hint", "access_token")];
        let res = post_basic(&app, "/oauth2/revoke", &client, &pairs);
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(app.me(&access).status, 401, "a revoked access token");
        let res = app.login(&email, PASSWORD);
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(app.me(res.json()["access_token"].as_str().unwrap()).status, 200, "a new login works");

        // A client may revoke its own token; nobody else may.
        let own = client_token(&post_basic(&app, TOKEN, &client, &CLIENT_CREDENTIALS), "read");
        let stranger = new_client(&app, &["read"], None, Alg::Rs256);
        let res = post_basic(&app, "/oauth2/revoke", &stranger, &[("token", &own)]);
        assert_oauth_error(&res, 400, "unauthorized_client", "another client revokes");
        let res = post_form(&app, "/oauth2/revoke", &[("token", &own)], &[]);
        assert_oauth_error(&res, 400, "unauthorized_client", "an anonymous revocation of a client token");
        assert_eq!(introspect(&app, &client, &own)["active"], true, "revoked by another client or anonymously");
        assert_eq!(post_basic(&app, "/oauth2/revoke", &client, &[("token", &own)]).status, 200);
        assert_inactive(&app, &client, &own, "a revoked client token");

        let long = "x".repeat(9000);
        for unknown in ["nope", "a.b.c", &"A".repeat(43), &long, "%%%", &access] {
            let res = post_form(&app, "/oauth2/revoke", &[("token", unknown)], &[]);
            assert_eq!(res.status, 200, "{unknown:?}: {}", res.body);
        }
        let res = post_form(&app, "/oauth2/revoke", &[("token_type_hint", "refresh_token")], &[]);
        assert_oauth_error(&res, 400, "invalid_request", "no token parameter");
        let wrong = (client.0.clone(), "wrong".to_owned());
        let res = post_basic(&app, "/oauth2/revoke", &wrong, &[("token", "nope")]);
        assert_oauth_error(&res, 401, "invalid_client", "wrong client credentials, basic");
        assert!(res.header("www-authenticate").is_some_and(|h| h.starts_with("Basic")), "{:?}", res.headers);
        let res = post_secret(&app, "/oauth2/revoke", &wrong, &[("token", "nope")]);
        assert_oauth_error(&res, 401, "invalid_client", "wrong client credentials, post");
    }

    fn introspection_describes_live_tokens_and_nothing_else(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let rs = new_client(&app, &["read", "write"], Some("https://api.example.test"), Alg::EdDsa);
        let (user_id, email, access, first) = user_session(&app);

        let res = post_form(&app, "/oauth2/introspect", &[("token", &access)], &[]);
        assert_oauth_error(&res, 401, "invalid_client", "no client authentication");
        let res = post_basic(&app, "/oauth2/introspect", &(rs.0.clone(), "wrong".into()), &[("token", &access)]);
        assert_oauth_error(&res, 401, "invalid_client", "a wrong secret");
        let res = post_basic(&app, "/oauth2/introspect", &rs, &[]);
        assert_oauth_error(&res, 400, "invalid_request", "no token parameter");

        let ct = client_token(&post_secret(&app, TOKEN, &rs, &CLIENT_CREDENTIALS), "read write");
        let got = introspect(&app, &rs, &ct);
        let claims = jwt_part(&ct, 1);
        assert_eq!(got["active"], true, "{got}");
        for k in ["sub", "client_id", "scope", "exp", "iat", "iss", "aud", "jti"] {
            assert_eq!(got[k], claims[k], "{k} in {got}");
        }
        assert_eq!((&got["client_id"], &got["aud"]), (&json!(rs.0), &json!("https://api.example.test")));

        let got = introspect(&app, &rs, &access);
        let claims = jwt_part(&access, 1);
        assert_eq!(got["active"], true, "{got}");
        for k in ["sub", "exp", "iat", "iss", "aud", "jti"] {
            assert_eq!(got[k], claims[k], "{k} in {got}");
        }
        assert_eq!((&got["sub"], &got["username"]), (&json!(user_id), &json!(email)));
        assert!(got.get("client_id").is_none(), "{got}");

        let got = introspect(&app, &rs, &first);
        assert_eq!((&got["active"], &got["token_type"]), (&json!(true), &json!("refresh_token")), "{got}");
        let res = refresh(&app, &first);
        assert_eq!(res.status, 200, "{}", res.body);
        let successor = res.json()["refresh_token"].as_str().unwrap().to_owned();
        assert_inactive(&app, &rs, &first, "a used refresh token");
        assert_eq!(introspect(&app, &rs, &successor)["active"], true);
        assert_eq!(app.post_json("/v1/logout", &json!({"refresh_token": successor})).status, 204);
        assert_inactive(&app, &rs, &successor, "a logged-out refresh token");

        let now = tessera::time::now();
        let mut old = app.valid_claims(&user_id);
        (old["iat"], old["nbf"], old["exp"]) = (json!(now - 7200), json!(now - 7200), json!(now - 3600));
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": app.active_kid(Alg::Rs256)});
        let expired = app.forge(Alg::Rs256, &header, &old);
        assert_inactive(&app, &rs, &expired, "an expired access token");
        assert_eq!(post_form(&app, "/oauth2/revoke", &[("token", &access)], &[]).status, 200);
        assert_inactive(&app, &rs, &access, "a revoked access token");
        let (_, _, other_access, other_refresh) = user_session(&app);
        let pairs = [("token", other_access.as_str()), ("token_type_hint", "refresh_token")];
        let hinted = post_basic(&app, "/oauth2/introspect", &rs, &pairs);
        assert_eq!(hinted.json()["active"], true, "a wrong hint does not matter: {}", hinted.body);
        assert_eq!(app.post_authed("/v1/logout-all", &other_access, &json!({})).status, 204);
        assert_inactive(&app, &rs, &other_access, "an access token from before logout-all");
        assert_inactive(&app, &rs, &other_refresh, "a refresh token from before logout-all");
        let long = "x".repeat(9000);
        for junk in ["nope", "a.b.c", &"A".repeat(43), "%%%", "eyJhbGciOiJub25lIn0.e30.", &long] {
            assert_inactive(&app, &rs, junk, junk);
        }

        // A deleted client: its tokens are inactive, and it gets no more.
        let gone = new_client(&app, &["read"], None, Alg::Rs256);
        let gone_token = client_token(&post_basic(&app, TOKEN, &gone, &CLIENT_CREDENTIALS), "read");
        assert_eq!(introspect(&app, &rs, &gone_token)["active"], true);
        assert!(tessera::db::clients::delete_client(&mut app.state.pool.get().unwrap(), &gone.0).unwrap());
        assert_inactive(&app, &rs, &gone_token, "a deleted client's token");
        let res = post_basic(&app, TOKEN, &gone, &CLIENT_CREDENTIALS);
        assert_oauth_error(&res, 401, "invalid_client", "a deleted client asks for a token");
        let res = post_basic(&app, "/oauth2/introspect", &gone, &[("token", &ct)]);
        assert_oauth_error(&res, 401, "invalid_client", "a deleted client introspects");
    }

    fn discovery_lists_the_oauth_endpoints_grants_and_client_auth_methods(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let base = &app.state.tokens.issuer;
        for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
            let res = app.get(path);
            assert_eq!(res.status, 200, "{path}");
            let doc = res.json();
            assert_eq!(doc["token_endpoint"], format!("{base}/oauth2/token"), "{path}");
            assert_eq!(doc["revocation_endpoint"], format!("{base}/oauth2/revoke"), "{path}");
            assert_eq!(doc["introspection_endpoint"], format!("{base}/oauth2/introspect"), "{path}");
            assert_eq!(sorted(&doc["grant_types_supported"]), ["client_credentials", "refresh_token"], "{path}");
            assert_eq!(
                sorted(&doc["token_endpoint_auth_methods_supported"]),
                ["client_secret_basic", "client_secret_post"],
                "{path}"
            );
        }
    }
}

/// The headers of a response, without `Date`, sorted.
fn headers_but_date(res: &Resp) -> Vec<(String, String)> {
    let mut h: Vec<_> = res
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("date"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    h.sort();
    h
}

/// The strings of a JSON array, sorted.
fn sorted(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    s.sort();
    s
}

/// Runs `tessera ARGS` against the database of `app` (SQLite), with its master
/// key and nothing else from the environment but PATH; killed after a minute.
fn cli(app: &Spawned, args: &[&str]) -> Run {
    let DatabaseUrl::Sqlite(path) = &app.db.url else { unreachable!("the CLI tests run on SQLite") };
    let MasterKeySource::Inline(key) = &app.settings.master_key else { unreachable!("test apps use inline keys") };
    let url = format!("sqlite://{}", path.display());
    let key = STANDARD.encode(key.0);
    let run = run_tessera(app.db.dir.path(), args, &[("TESSERA_DATABASE_URL", &url), ("TESSERA_MASTER_KEY", &key)], "");
    assert!(run.success() || !args.contains(&"--json"), "{run:?}");
    run
}

#[test]
fn clients_cli_creates_lists_and_deletes_service_clients() {
    let app = spawn_app(Backend::Sqlite).expect("SQLite is always available");
    let created = cli(&app, &["clients", "create", "--name", "svc", "--scope", "read write", "--json"]).json();
    let id = created["client_id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let secret = created["client_secret"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    assert!(secret.len() >= 43, "at least 256 bits: {secret}");
    assert_eq!((&created["name"], &created["scope"]), (&json!("svc"), &json!("read write")));
    let client = (id.clone(), secret.clone());
    let token = client_token(&post_basic(&app, TOKEN, &client, &CLIENT_CREDENTIALS), "read write");
    assert_eq!(jwt_part(&token, 1)["client_id"], id.as_str(), "the running app knows the new client at once");

    let eddsa = [
        "clients",
        "create",
        "--name",
        "edge",
        "--scope",
        "read",
        "--audience",
        "https://edge.test",
        "--alg",
        "EdDSA",
        "--json",
    ];
    let edge = cli(&app, &eddsa).json();
    let edge = (edge["client_id"].as_str().unwrap().to_owned(), edge["client_secret"].as_str().unwrap().to_owned());
    let token = client_token(&post_secret(&app, TOKEN, &edge, &CLIENT_CREDENTIALS), "read");
    assert_eq!(jwt_part(&token, 0)["alg"], "EdDSA");
    assert_eq!(jwt_part(&token, 1)["aud"], "https://edge.test");

    let plain = cli(&app, &["clients", "create", "--name", "people", "--scope", "read"]);
    assert_eq!(plain.code, Some(0), "{plain:?}");
    assert!(plain.stdout.contains("client_id") && plain.stdout.contains("client_secret"), "{plain:?}");

    let hash = tessera::auth::sessions::hash_token(&secret);
    let listed = cli(&app, &["clients", "list", "--json"]);
    let clients = listed.json()["clients"].as_array().unwrap().clone();
    let entry = clients.iter().find(|c| c["client_id"] == id.as_str()).unwrap_or_else(|| panic!("{listed:?}"));
    assert_eq!((&entry["name"], &entry["scope"]), (&json!("svc"), &json!("read write")));
    assert!(entry.get("client_secret").is_none(), "{entry}");
    let table = cli(&app, &["clients", "list"]);
    assert_eq!(table.code, Some(0), "{table:?}");
    assert!(table.stdout.contains(&id), "{table:?}");
    for out in [&listed, &table] {
        assert!(!out.stdout.contains(&secret) && !out.stdout.contains(&hash), "no secret nor its hash: {out:?}");
        assert!(!out.stderr.contains(&secret) && !out.stderr.contains(&hash), "{out:?}");
    }

    let deleted = cli(&app, &["clients", "delete", &id]);
    assert_eq!(deleted.code, Some(0), "{deleted:?}");
    let res = post_basic(&app, TOKEN, &client, &CLIENT_CREDENTIALS);
    assert_oauth_error(&res, 401, "invalid_client", "a deleted client");
    let again = cli(&app, &["clients", "delete", &id]);
    assert_ne!(again.code, Some(0), "deleting twice fails: {again:?}");
    assert!(!again.stderr.trim().is_empty(), "with a message on standard error: {again:?}");
    let listed = cli(&app, &["clients", "list", "--json"]).json();
    assert!(listed["clients"].as_array().unwrap().iter().all(|c| c["client_id"] != id.as_str()), "{listed}");
}

both_backends! {
    fn a_registered_client_naming_itself_without_its_secret_is_invalid_client(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let client = new_client(&app, &["read"], None, Alg::Rs256);
        let login = app.signup("public@example.test", PASSWORD).json();
        let refresh = login["refresh_token"].as_str().unwrap();
        let pairs = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", client.0.as_str())];
        assert_oauth_error(&post_form(&app, TOKEN, &pairs, &[]), 401, "invalid_client", "client_id without its secret");
        // A public client id that is not registered is just a label.
        let pairs = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "my-spa")];
        assert_eq!(post_form(&app, TOKEN, &pairs, &[]).status, 200);
    }

    fn blank_and_repeated_scopes_are_handled(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let client = new_client(&app, &["read", "write"], None, Alg::Rs256);
        let res = post_basic(&app, TOKEN, &client, &[("grant_type", "client_credentials"), ("scope", " ")]);
        assert_oauth_error(&res, 400, "invalid_scope", "a blank scope");
        let res = post_basic(&app, TOKEN, &client, &[("grant_type", "client_credentials"), ("scope", "read read")]);
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.json()["scope"], "read");
    }
}

#[test]
fn a_revoked_access_token_stays_denied_through_the_verifier_leeway() {
    let app = spawn_app(Backend::Sqlite).expect("SQLite is always available");
    let mut conn = app.state.pool.get().unwrap();
    let now = tessera::time::now();
    tessera::db::sessions::deny_access_token(&mut conn, "jti-within-leeway", now - 10).unwrap();
    tessera::db::sessions::deny_access_token(&mut conn, "jti-past-leeway", now - 40).unwrap();
    tessera::db::sessions::purge_expired(&mut conn, now).unwrap();
    assert!(tessera::db::sessions::is_access_token_denied(&mut conn, "jti-within-leeway").unwrap());
    assert!(!tessera::db::sessions::is_access_token_denied(&mut conn, "jti-past-leeway").unwrap());
}
