//! Bad input at the HTTP edge (SPEC §4): every refusal has the JSON error shape
//! `{"error", "error_description"}`, and the server keeps serving afterwards.

use std::io::Cursor;
use std::time::Duration;

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

const AUTH_ROUTES: [&str; 2] = ["/v1/signup", "/v1/login"];
const BODY_LIMIT: usize = 16 * 1024;

/// A client of our own, for what the shared helpers do not send: other
/// methods and bodies without a known length (chunked).
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections(0)
        .build()
        .into()
}

fn to_resp(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut res = res.expect("the request completes");
    let status = res.status().as_u16();
    let headers =
        res.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
    let body = res.body_mut().read_to_string().unwrap_or_default();
    Resp { status, headers, body }
}

/// POSTs `body` as JSON with `Transfer-Encoding: chunked` (no Content-Length).
fn post_chunked(app: &TestApp, path: &str, body: Vec<u8>) -> Resp {
    let req = agent().post(&app.url(path)).header("Content-Type", "application/json");
    to_resp(req.send(ureq::SendBody::from_owned_reader(Cursor::new(body))))
}

/// Asserts status and error code, in the JSON error shape.
fn assert_error(res: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(res.status, status, "{what}: {}", res.body);
    assert_eq!(res.error_code(), code, "{what}");
    let ct = res.header("Content-Type").unwrap_or("");
    assert!(ct.starts_with("application/json"), "{what}: Content-Type {ct:?}");
}

/// The server still answers after whatever came before.
fn assert_still_serving(app: &TestApp) {
    let res = app.get("/healthz");
    assert_eq!(res.status, 200, "{}", res.body);
}

/// A JSON credentials body of exactly `len` bytes (the password pads it).
fn credentials_of_len(len: usize) -> Vec<u8> {
    let empty = json!({"email": "big@example.test", "password": ""}).to_string();
    let pad = len - empty.len();
    let body = json!({"email": "big@example.test", "password": "p".repeat(pad)}).to_string().into_bytes();
    assert_eq!(body.len(), len);
    body
}

both_backends! {
    fn malformed_json_is_refused_with_invalid_request(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let bodies: [&[u8]; 5] = [b"", b"{", b"not json", br#"{"email": "a@b.test", "password": }"#, b"{}}"];
        for path in AUTH_ROUTES {
            for body in bodies {
                let res = app.post_raw(path, Some("application/json"), body, &[]);
                assert_error(&res, 400, "invalid_request", &format!("{path} {:?}", String::from_utf8_lossy(body)));
            }
        }
        assert_still_serving(&app);
    }

    fn json_of_the_wrong_shape_is_refused_with_invalid_request(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let email = "shape@example.test";
        let bodies = [
            json!("a string"),
            json!(42),
            json!(null),
            json!({"email": 42, "password": PASSWORD}),
            json!({"email": email, "password": ["not", "a", "string"]}),
            json!({"email": null, "password": PASSWORD}),
            json!({"email": email}),
            json!({"password": PASSWORD}),
            json!({}),
            json!({"email": email, "password": PASSWORD, "role": "admin"}),
        ];
        for path in AUTH_ROUTES {
            for body in &bodies {
                assert_error(&app.post_json(path, body), 400, "invalid_request", &format!("{path} {body}"));
            }
        }
        // None of them made an account, not even the one with an extra `role`.
        let res = app.signup(email, PASSWORD);
        assert_eq!(res.status, 201, "{}", res.body);
        assert_eq!(res.json()["user"]["role"], "user");
    }

    fn json_array_instead_of_an_object_is_refused_with_invalid_request(backend) {
        let Some(app) = spawn_app(backend) else { return };
        // serde would read a struct from a sequence; the API takes objects only.
        let email = "array@example.test";
        for path in AUTH_ROUTES {
            let res = app.post_json(path, &json!([email, PASSWORD]));
            assert_error(&res, 400, "invalid_request", &format!("{path} with an array"));
        }
        let res = app.signup(email, PASSWORD);
        assert_eq!(res.status, 201, "the array made no account: {}", res.body);
    }

    fn wrong_content_type_is_refused_with_415(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let body = json!({"email": "ct@example.test", "password": PASSWORD}).to_string();
        for path in AUTH_ROUTES {
            for ct in [Some("text/plain"), None, Some("application/x-www-form-urlencoded")] {
                let res = app.post_raw(path, ct, body.as_bytes(), &[]);
                assert_error(&res, 415, "unsupported_media_type", &format!("{path} {ct:?}"));
            }
        }
        let form = app.post_raw(
            "/v1/signup",
            Some("application/x-www-form-urlencoded"),
            b"email=ct%40example.test&password=correct+horse+battery+staple",
            &[],
        );
        assert_error(&form, 415, "unsupported_media_type", "a real form body");
        // Nothing above made the account.
        assert_eq!(app.signup("ct@example.test", PASSWORD).status, 201);
    }

    fn body_over_16_kib_is_refused_with_413(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let over = credentials_of_len(BODY_LIMIT + 1);
        let at_limit = credentials_of_len(BODY_LIMIT);
        let huge = credentials_of_len(1024 * 1024);
        for path in AUTH_ROUTES {
            let res = app.post_raw(path, Some("application/json"), &over, &[]);
            assert_error(&res, 413, "payload_too_large", &format!("{path} with Content-Length"));
            let res = post_chunked(&app, path, over.clone());
            assert_error(&res, 413, "payload_too_large", &format!("{path} chunked"));
            let res = post_chunked(&app, path, huge.clone());
            assert_error(&res, 413, "payload_too_large", &format!("{path} chunked, 1 MiB"));
            // Exactly 16 KiB is read; its 16 KiB password is then too long (signup)
            // or simply wrong (login).
            let res = app.post_raw(path, Some("application/json"), &at_limit, &[]);
            assert_ne!(res.status, 413, "{path}: exactly 16 KiB is allowed");
            assert!(res.status == 400 || res.status == 401, "{path}: {} {}", res.status, res.body);
        }
        assert_still_serving(&app);
        app.new_user();
    }

    fn unknown_path_is_a_json_404(backend) {
        let Some(app) = spawn_app(backend) else { return };
        for path in ["/nope", "/v1/signup/extra", "/v2/login", "/.well-known/other.json"] {
            assert_error(&app.get(path), 404, "not_found", path);
        }
        let res = app.post_json("/v1/nope", &json!({}));
        assert_error(&res, 404, "not_found", "POST /v1/nope");
        assert_still_serving(&app);
    }

    fn wrong_method_is_a_json_405(backend) {
        let Some(app) = spawn_app(backend) else { return };
        assert_error(&app.get("/v1/login"), 405, "method_not_allowed", "GET /v1/login");
        assert_error(&app.get("/v1/signup"), 405, "method_not_allowed", "GET /v1/signup");
        let res = to_resp(agent().delete(&app.url("/.well-known/jwks.json")).call());
        assert_error(&res, 405, "method_not_allowed", "DELETE /.well-known/jwks.json");
        let res = app.post_json("/v1/me", &json!({}));
        assert_error(&res, 405, "method_not_allowed", "POST /v1/me");
        let res = to_resp(agent().put(&app.url("/healthz")).send(""));
        assert_error(&res, 405, "method_not_allowed", "PUT /healthz");
        assert_eq!(res.header("allow"), Some("GET, HEAD"), "405 names the allowed methods");
        assert_eq!(app.get("/v1/login").header("allow"), Some("POST"));
        assert_still_serving(&app);
    }

    fn head_works_wherever_get_does(backend) {
        let Some(app) = spawn_app(backend) else { return };
        for path in ["/.well-known/jwks.json", "/.well-known/openid-configuration", "/healthz", "/readyz"] {
            let get = app.get(path);
            let head = to_resp(agent().head(&app.url(path)).call());
            assert_eq!(head.status, 200, "HEAD {path}");
            assert!(head.body.is_empty(), "HEAD {path} has no body");
            assert_eq!(head.header("content-type"), get.header("content-type"), "HEAD {path}");
        }
        let head = to_resp(agent().head(&app.url("/.well-known/jwks.json")).call());
        assert_eq!(head.header("etag"), app.get("/.well-known/jwks.json").header("etag"));
    }

    fn me_without_authorization_is_401_with_a_bearer_challenge(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let res = app.get("/v1/me");
        assert_error(&res, 401, "invalid_token", "no Authorization");
        let challenge = res.header("WWW-Authenticate").unwrap_or("");
        assert!(challenge.starts_with("Bearer"), "{challenge:?}");
        assert_still_serving(&app);
    }

    fn me_with_a_garbage_token_is_401_invalid_token(backend) {
        let Some(app) = spawn_app(backend) else { return };
        for token in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "Bearer"] {
            let res = app.me(token);
            assert_error(&res, 401, "invalid_token", token);
            assert_eq!(res.header("WWW-Authenticate"), Some(r#"Bearer error="invalid_token""#), "{token}");
        }
        assert_still_serving(&app);
    }

    fn me_with_basic_credentials_is_401(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let res = app.get_with("/v1/me", &[("Authorization", "Basic dXNlcjpwYXNzd29yZA==")]);
        assert_error(&res, 401, "invalid_token", "Basic credentials");
        let challenge = res.header("WWW-Authenticate").unwrap_or("");
        assert!(challenge.starts_with("Bearer"), "{challenge:?}");
        assert_still_serving(&app);
    }

    fn token_in_the_query_string_is_ignored(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (_, token) = app.new_user();
        let res = app.get(&format!("/v1/me?access_token={token}"));
        assert_error(&res, 401, "invalid_token", "token in the query string");
        let challenge = res.header("WWW-Authenticate").unwrap_or("");
        assert!(challenge.starts_with("Bearer"), "{challenge:?}");
        assert_eq!(app.me(&token).status, 200, "the same token in the header works");
    }

    fn invalid_utf8_in_the_body_is_refused_with_400(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let bodies: [&[u8]; 3] = [
            b"{\"email\": \"\xff\xfe@example.test\", \"password\": \"correct horse battery staple\"}",
            b"{\"email\": \"utf8@example.test\", \"password\": \"correct horse \xc3\x28 battery\"}",
            b"\xef\xbb\xbf\xff",
        ];
        for path in AUTH_ROUTES {
            for body in bodies {
                let res = app.post_raw(path, Some("application/json"), body, &[]);
                assert_error(&res, 400, "invalid_request", &format!("{path} {body:?}"));
            }
        }
        assert_still_serving(&app);
        assert_eq!(app.signup("utf8@example.test", PASSWORD).status, 201);
    }

    fn jwks_with_an_unknown_alg_is_refused_with_invalid_request(backend) {
        let Some(app) = spawn_app(backend) else { return };
        for alg in ["HS256", "none", "rs256x", ""] {
            let res = app.get(&format!("/.well-known/jwks.json?alg={alg}"));
            assert_error(&res, 400, "invalid_request", &format!("alg={alg}"));
        }
        assert_eq!(app.get("/.well-known/jwks.json?alg=RS256").status, 200);
        assert_still_serving(&app);
    }
}

#[test]
fn a_body_that_never_arrives_gets_a_json_408() {
    use std::io::{Read, Write};
    let Some(app) = spawn_app(Backend::Sqlite) else { return };
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(45))).unwrap();
    let head =
        "POST /v1/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":";
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&answer).contains("request_timeout") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""error":"request_timeout""#), "{text}");
    assert_still_serving(&app);
}
