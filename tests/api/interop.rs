//! Third-party verifiers check tessera's tokens as resource servers do (issue 5):
//! PyJWT, authlib, joserfc, node `jose` and jsonwebtoken + jwks-rsa, each a
//! long-running process of tests/interop/ that fetches and caches the JWKS over
//! HTTP itself. Cells: RS256 and EdDSA × `typ` JWT and at+jwt; in each, every
//! library reads the keys from the full JWKS, from the `?alg=` view and through
//! issuer discovery, across a rotation and a revocation. Without the installed
//! verifiers the cells print a notice and pass, except under CI=true.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use tessera::config::TokenTyp;
use tessera::keys::Alg;

use crate::helpers::*;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");
const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/verifiers.md");
/// The verifiers' JWKS cache lifetime: longer than warm-up to revocation takes,
/// short enough to wait out.
const CACHE_SECONDS: u64 = 10;
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lib {
    PyJwt,
    Authlib,
    Joserfc,
    Jose,
    JsonWebToken,
}

impl Lib {
    const ALL: [Lib; 5] = [Lib::PyJwt, Lib::Authlib, Lib::Joserfc, Lib::Jose, Lib::JsonWebToken];

    fn name(self) -> &'static str {
        match self {
            Lib::PyJwt => "pyjwt",
            Lib::Authlib => "authlib",
            Lib::Joserfc => "joserfc",
            Lib::Jose => "jose",
            Lib::JsonWebToken => "jsonwebtoken",
        }
    }

    fn is_python(self) -> bool {
        matches!(self, Lib::PyJwt | Lib::Authlib | Lib::Joserfc)
    }

    /// jsonwebtoken has no EdDSA.
    fn verifies(self, alg: Alg) -> bool {
        self != Lib::JsonWebToken || alg == Alg::Rs256
    }

    /// jwks-rsa caches one key per kid, so a kid it has not met yet is a fetch
    /// even when its last copy of the set had it; the others cache the whole set.
    fn fetches_for_new_kid(self) -> u64 {
        u64::from(self == Lib::JsonWebToken)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// `--jwks-url` of the full set.
    Jwks,
    /// `--jwks-url` of `?alg=` the cell's algorithm.
    AlgView,
    /// The issuer only: the verifier reads `jwks_uri` from the discovery document.
    Discovery,
}

const SOURCES: [Source; 3] = [Source::Jwks, Source::AlgView, Source::Discovery];

struct Tools {
    python: PathBuf,
}

/// The installed verifiers, or `None` (with a notice) when they are missing; under CI=true missing is a failure.
fn tools() -> Option<&'static Tools> {
    static TOOLS: OnceLock<Option<Tools>> = OnceLock::new();
    TOOLS
        .get_or_init(|| {
            let python = Path::new(DIR).join(".venv/bin/python");
            let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
            let mut missing = Vec::new();
            if !python.exists() {
                missing.push("tests/interop/.venv");
            }
            if !Path::new(DIR).join("node_modules").exists() {
                missing.push("tests/interop/node_modules");
            }
            if !node {
                missing.push("node");
            }
            if missing.is_empty() {
                return Some(Tools { python });
            }
            let what = missing.join(", ");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but the interop verifiers are not installed (missing {what}); .ci/run installs them");
            }
            notice(&format!("skipping the interop tests, missing {what}: run .ci/run or see docs/verifiers.md"));
            None
        })
        .as_ref()
}

/// One verifier process: a library, a key source and its own JWKS cache.
struct Verifier {
    /// `alg`/`typ` of the cell, for the log.
    cell: String,
    lib: Lib,
    source: Source,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr: tempfile::NamedTempFile,
}

impl Verifier {
    fn spawn(tools: &Tools, app: &TestApp, lib: Lib, source: Source, alg: Alg, typ: TokenTyp) -> Self {
        let mut cmd = if lib.is_python() { Command::new(&tools.python) } else { Command::new("node") };
        let tokens = &app.state.tokens;
        cmd.current_dir(DIR)
            .arg(if lib.is_python() { "verify.py" } else { "verify.mjs" })
            .args(["--lib", lib.name(), "--issuer", &tokens.issuer, "--audience", &tokens.audience])
            .args(["--typ", typ.as_str(), "--cache-seconds", &CACHE_SECONDS.to_string()]);
        match source {
            Source::Jwks => cmd.args(["--jwks-url", &app.url("/.well-known/jwks.json")]),
            Source::AlgView => cmd.args(["--jwks-url", &app.url(&format!("/.well-known/jwks.json?alg={alg}"))]),
            Source::Discovery => &mut cmd,
        };
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", lib.name()));
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        // A reader thread, so that a silent process is a timeout, not a hang.
        std::thread::spawn(move || stdout.lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
        let stdin = child.stdin.take().unwrap();
        Self { cell: format!("{alg}/{}", typ.as_str()), lib, source, child, stdin, lines, stderr }
    }

    fn label(&self) -> String {
        format!("{} {} ({:?})", self.cell, self.lib.name(), self.source)
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap_or_else(|e| panic!("{}: {e}; stderr:\n{}", self.label(), self.errors()));
    }

    fn answer(&mut self) -> Value {
        match self.lines.recv_timeout(ANSWER_TIMEOUT) {
            Ok(line) => serde_json::from_str(&line).unwrap_or_else(|e| panic!("{}: {e} in {line}", self.label())),
            Err(e) => panic!("{}: no answer ({e}); stderr:\n{}", self.label(), self.errors()),
        }
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every supported library × every key source, started together and ready.
fn spawn_verifiers(tools: &Tools, app: &TestApp, alg: Alg, typ: TokenTyp) -> Vec<Verifier> {
    let libs = Lib::ALL.into_iter().filter(|l| l.verifies(alg));
    let mut vs: Vec<_> =
        libs.flat_map(|l| SOURCES.map(|s| (l, s))).map(|(l, s)| Verifier::spawn(tools, app, l, s, alg, typ)).collect();
    for v in &mut vs {
        let ready = v.answer();
        assert_eq!(ready["ready"], true, "{}: {ready}", v.label());
        if v.source == Source::Discovery {
            assert_eq!(ready["jwks_url"], app.url("/.well-known/jwks.json"), "{}: jwks_uri from discovery", v.label());
        }
    }
    vs
}

/// Sends `verify token` to every verifier, then collects the answers (so the
/// processes work at once) and logs them: what each library did at each `step`.
fn verify_all(vs: &mut [Verifier], step: &str, token: &str) -> Vec<Value> {
    vs.iter_mut().for_each(|v| v.send(&format!("verify {token}")));
    let answers: Vec<Value> = vs.iter_mut().map(Verifier::answer).collect();
    for (v, a) in vs.iter().zip(&answers) {
        let outcome = if a["ok"] == true { "accepts".to_owned() } else { format!("rejects: {}", a["error"]) };
        eprintln!("{:<36} {step:<28} jwks_fetches={} {outcome}", v.label(), a["jwks_fetches"]);
    }
    answers
}

fn fetches(answer: &Value) -> u64 {
    answer["jwks_fetches"].as_u64().unwrap_or_else(|| panic!("no jwks_fetches in {answer}"))
}

/// Who a token is for: (sub, email, role).
type Subject = (String, String, &'static str);

fn assert_accepted(vs: &[Verifier], answers: &[Value], who: &Subject, step: &str) {
    for (v, a) in vs.iter().zip(answers) {
        assert_eq!(a["ok"], true, "{step}: {} rejects a valid token: {a}", v.label());
        let c = &a["claims"];
        assert_eq!(
            (c["sub"].as_str(), c["email"].as_str(), c["role"].as_str()),
            (Some(&*who.0), Some(&*who.1), Some(who.2)),
            "{step}: {}",
            v.label()
        );
    }
}

fn kid_of(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().unwrap().to_owned()
}

fn login(app: &TestApp, email: &str) -> String {
    let res = app.login(email, PASSWORD);
    assert_eq!(res.status, 200, "{}", res.body);
    res.json()["access_token"].as_str().unwrap().to_owned()
}

fn run_cell(alg: Alg, typ: TokenTyp) {
    let Some(tools) = tools() else { return };
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.signing_alg = alg;
        s.access_token_typ = typ;
        s.prepublish = Duration::ZERO;
    }) else {
        return;
    };
    let (admin_id, admin) = app.new_admin();
    let (email, token) = app.new_user();
    let user: Subject = (jwt_part(&token, 1)["sub"].as_str().unwrap().to_owned(), email.clone(), "user");
    assert_eq!(
        (jwt_part(&token, 0)["alg"].as_str(), jwt_part(&token, 0)["typ"].as_str()),
        (Some(alg.as_str()), Some(typ.as_str()))
    );
    let mut vs = spawn_verifiers(tools, &app, alg, typ);

    // Warm the caches: one fetch each.
    let warmed_at = Instant::now();
    let answers = verify_all(&mut vs, "signup token, cold cache", &token);
    assert_accepted(&vs, &answers, &user, "signup token");
    assert!(answers.iter().all(|a| fetches(a) == 1), "one JWKS fetch each: {answers:?}");
    let admin_email = jwt_part(&admin, 1)["email"].as_str().unwrap().to_owned();
    let answers = verify_all(&mut vs, "admin token", &admin);
    assert_accepted(&vs, &answers, &(admin_id, admin_email, "admin"), "admin token");

    let (fresh, last_fetch) = rotation_keeps_warm_caches_working(&app, &admin, &mut vs, &user, &token);
    revoked_key_lives_until_the_caches_expire(&app, &admin, &mut vs, &fresh, warmed_at, last_fetch);
    rejections_are_for_the_right_reason(&app, &mut vs, &user, alg, typ);
}

/// Rotates every algorithm and returns a token of the new active key, which each
/// verifier accepts from the set it fetched before the rotation, and the instant
/// by which every verifier had made its last fetch.
fn rotation_keeps_warm_caches_working(
    app: &TestApp,
    admin: &str,
    vs: &mut [Verifier],
    user: &Subject,
    before: &str,
) -> (String, Instant) {
    let res = app.post_authed("/admin/keys/rotate", admin, &json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    let after = login(app, &user.1);
    assert_ne!(kid_of(&after), kid_of(before), "the rotation changed the signing key");
    let answers = verify_all(vs, "new key after rotation", &after);
    let last_fetch = Instant::now();
    assert_accepted(vs, &answers, user, "after a rotation");
    for (v, a) in vs.iter().zip(&answers) {
        assert_eq!(fetches(a), 1 + v.lib.fetches_for_new_kid(), "{}: JWKS fetches after a rotation: {a}", v.label());
    }
    // The retired key stays published: the token from before still verifies, without a fetch.
    let again = verify_all(vs, "retired key after rotation", before);
    assert_accepted(vs, &again, user, "a token of the retired key");
    assert!(again.iter().zip(&answers).all(|(a, b)| fetches(a) == fetches(b)), "{again:?}");
    (after, last_fetch)
}

/// Revokes the key of `token`: every library keeps accepting it from its cache
/// (tessera itself rejects it at once), then refetches when the cache expires and rejects it.
fn revoked_key_lives_until_the_caches_expire(
    app: &TestApp,
    admin: &str,
    vs: &mut [Verifier],
    token: &str,
    warmed_at: Instant,
    last_fetch: Instant,
) {
    let kid = kid_of(token);
    let res = app.post_authed(&format!("/admin/keys/{kid}/revoke"), admin, &json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(app.me(token).status, 401, "tessera rejects a revoked key's token at once");
    let cached = verify_all(vs, "revoked key, cache warm", token);
    let elapsed = warmed_at.elapsed();
    eprintln!("{}: warm-up to revocation took {elapsed:?} of the {CACHE_SECONDS} s cache", vs[0].cell);
    assert!(
        elapsed < Duration::from_secs(CACHE_SECONDS),
        "warm-up to revocation took {elapsed:?}, longer than the {CACHE_SECONDS} s cache: nothing to observe"
    );
    for (v, a) in vs.iter().zip(&cached) {
        assert_eq!(a["ok"], true, "{}: observed to accept a revoked key from its cache: {a}", v.label());
    }
    let expiry = last_fetch + Duration::from_secs(CACHE_SECONDS) + Duration::from_millis(500);
    std::thread::sleep(expiry.saturating_duration_since(Instant::now()));
    let expired = verify_all(vs, "revoked key, cache expired", token);
    for ((v, before), after) in vs.iter().zip(&cached).zip(&expired) {
        assert_eq!(after["ok"], false, "{}: accepts a revoked key after its cache expired: {after}", v.label());
        assert_eq!(fetches(after), fetches(before) + 1, "{}: one refetch when the cache expired: {after}", v.label());
        assert_reason(v, after, &["key"]);
    }
}

fn assert_reason(v: &Verifier, answer: &Value, any_of: &[&str]) {
    let error = answer["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        any_of.iter().any(|w| error.contains(w)),
        "{}: rejected for an unexpected reason ({any_of:?}): {answer}",
        v.label()
    );
}

/// A token case: name, token, accepted, words of which the rejection must name one.
type Case = (&'static str, String, bool, &'static [&'static str]);

fn cases(app: &TestApp, user: &Subject, alg: Alg, typ: TokenTyp) -> Vec<Case> {
    let now = tessera::time::now();
    let kid = app.active_kid(alg);
    let header = json!({"alg": alg.as_str(), "typ": typ.as_str(), "kid": kid});
    let claims = || {
        let mut c = app.valid_claims(&user.0);
        c["email"] = json!(user.1);
        c
    };
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        app.forge(alg, &header, &c)
    };
    let valid = login(app, &user.1);
    let mut tampered: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let mut payload = jwt_part(&valid, 1);
    payload["role"] = json!("admin");
    tampered[1] = B64.encode(payload.to_string());
    let other_typ = if typ == TokenTyp::Jwt { "at+jwt" } else { "JWT" };
    let none_header = json!({"alg": "none", "typ": typ.as_str(), "kid": kid});
    vec![
        ("valid", valid, true, &[]),
        ("forged control", app.forge(alg, &header, &claims()), true, &[]),
        ("tampered payload", tampered.join("."), false, &["signature"]),
        (
            "expired",
            with(&|c| {
                c["exp"] = json!(now - 120);
                c["iat"] = json!(now - 1000);
                c["nbf"] = json!(now - 1000);
            }),
            false,
            &["exp"],
        ),
        ("wrong audience", with(&|c| c["aud"] = json!("https://api.other.test")), false, &["aud"]),
        ("wrong issuer", with(&|c| c["iss"] = json!("https://issuer.other.test")), false, &["iss"]),
        (
            "wrong typ",
            app.forge(alg, &json!({"alg": alg.as_str(), "typ": other_typ, "kid": kid}), &claims()),
            false,
            &["typ"],
        ),
        (
            "alg none",
            format!("{}.{}.", B64.encode(none_header.to_string()), B64.encode(claims().to_string())),
            false,
            &["alg", "signature"],
        ),
    ]
}

/// The valid token verifies; each broken one is rejected, by every library, for its own reason.
fn rejections_are_for_the_right_reason(app: &TestApp, vs: &mut [Verifier], user: &Subject, alg: Alg, typ: TokenTyp) {
    let cases = cases(app, user, alg, typ);
    let list: Vec<Value> = cases
        .iter()
        .map(|(name, token, ok, _)| json!({"name": name, "token": token, "expect": if *ok { "accept" } else { "reject" }}))
        .collect();
    let command = format!("cases {}", Value::Array(list));
    vs.iter_mut().for_each(|v| v.send(&command));
    for v in vs.iter_mut() {
        for (name, _, ok, reasons) in &cases {
            let a = v.answer();
            eprintln!(
                "{:<36} {name:<28} {}",
                v.label(),
                if a["ok"] == true { "accepts" } else { a["error"].as_str().unwrap_or("?") }
            );
            assert_eq!(a["name"], *name);
            assert_eq!(a["ok"], *ok, "{}: {name}: {a}", v.label());
            if *ok {
                assert_eq!(a["claims"]["sub"].as_str(), Some(&*user.0), "{}: {name}", v.label());
            } else {
                assert_reason(v, &a, reasons);
            }
        }
    }
}

#[test]
fn rs256_jwt_tokens_verify_in_every_library_across_rotation_and_revocation() {
    run_cell(Alg::Rs256, TokenTyp::Jwt);
}

#[test]
fn rs256_at_jwt_tokens_verify_in_every_library_across_rotation_and_revocation() {
    run_cell(Alg::Rs256, TokenTyp::AtJwt);
}

#[test]
fn eddsa_jwt_tokens_verify_in_every_library_across_rotation_and_revocation() {
    run_cell(Alg::EdDsa, TokenTyp::Jwt);
}

#[test]
fn eddsa_at_jwt_tokens_verify_in_every_library_across_rotation_and_revocation() {
    run_cell(Alg::EdDsa, TokenTyp::AtJwt);
}

/// The regions between `[docs:NAME]` and `[/docs:NAME]` markers in the verifier scripts.
fn marked_snippets() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (file, comment) in [("verify.py", "# "), ("verify.mjs", "// ")] {
        let text = std::fs::read_to_string(Path::new(DIR).join(file)).unwrap();
        let mut rest = text.as_str();
        while let Some(start) = rest.find(&format!("{comment}[docs:")) {
            let after = &rest[start + comment.len() + 6..];
            let name = &after[..after.find(']').unwrap()];
            let body_start = after.find('\n').unwrap() + 1;
            let end_marker = format!("{comment}[/docs:{name}]");
            let end = after.find(&end_marker).unwrap_or_else(|| panic!("{file}: no {end_marker}"));
            out.push((format!("{file}:{name}"), after[body_start..end].trim_end().to_owned()));
            rest = &after[end + end_marker.len()..];
        }
    }
    out
}

/// The bodies of the fenced code blocks of a Markdown text, with their info strings.
fn code_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), Vec::new())),
            (Some(_), Some(_)) => {
                let (info, body) = open.take().unwrap();
                blocks.push((info, body.join("\n")));
            }
            (Some((_, body)), None) => body.push(line),
            (None, None) => {}
        }
    }
    blocks
}

#[test]
fn every_snippet_in_docs_verifiers_md_is_code_the_interop_tests_run() {
    let docs = std::fs::read_to_string(DOCS).unwrap();
    let snippets = marked_snippets();
    assert!(snippets.len() >= 7, "{:?}", snippets.iter().map(|s| &s.0).collect::<Vec<_>>());
    let blocks = code_blocks(&docs);
    for (info, body) in &blocks {
        assert!(
            snippets.iter().any(|(_, s)| s == body.trim_end()),
            "a ```{info} block of docs/verifiers.md is not a [docs:…] region of tests/interop/verify.*:\n{body}"
        );
    }
    for (name, snippet) in &snippets {
        assert!(blocks.iter().any(|(_, b)| b.trim_end() == snippet), "docs/verifiers.md lacks the snippet {name}");
    }
    assert!(
        docs.contains(&format!("({CACHE_SECONDS} s in the test")),
        "docs/verifiers.md misstates the test's cache lifetime"
    );
    // The tested versions it names are the pinned ones.
    let requirements = std::fs::read_to_string(Path::new(DIR).join("requirements.txt")).unwrap();
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(DIR).join("package.json")).unwrap()).unwrap();
    let mut pins: Vec<(String, String)> = package["dependencies"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    for lib in ["PyJWT[crypto]", "authlib", "joserfc", "requests"] {
        let line = requirements
            .lines()
            .find(|l| l.starts_with(&format!("{lib}==")))
            .unwrap_or_else(|| panic!("{lib} is not pinned"));
        pins.push((lib.trim_end_matches("[crypto]").to_owned(), line.split("==").nth(1).unwrap().to_owned()));
    }
    for (lib, version) in pins {
        assert!(
            docs.contains(&format!("{lib} {version}")),
            "docs/verifiers.md does not name the tested {lib} {version}"
        );
    }
}

/// An OAuth 2.0 client library (authlib's OAuth2Session, in tests/interop/oauth_client.py)
/// obtains, refreshes, introspects and revokes tokens (issue 4's "done when").
#[test]
fn an_oauth_client_library_obtains_refreshes_introspects_and_revokes_tokens() {
    let Some(tools) = tools() else { return };
    let Some(app) = spawn_app(Backend::Sqlite) else { return };
    let (client, secret) = {
        let mut conn = app.state.pool.get().unwrap();
        tessera::auth::clients::create_client(&mut conn, "interop", &["read".into(), "write".into()], None, Alg::EdDsa)
            .unwrap()
    };
    let signup = app.signup("oauth-client@example.test", PASSWORD).json();
    let refresh = signup["refresh_token"].as_str().unwrap();
    let output = Command::new(&tools.python)
        .arg(Path::new(DIR).join("oauth_client.py"))
        .args([app.address.as_str(), client.id.as_str(), secret.as_str(), refresh])
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "oauth_client.py failed: {stderr}");
    let out: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");

    for method in ["client_secret_basic", "client_secret_post"] {
        let t = &out[method];
        assert_eq!(t["token_type"], "Bearer", "{method}: {t}");
        assert_eq!(t["scope"], "read", "{method}");
        assert!(t["refresh_token"].is_null(), "{method}: no refresh token for client_credentials");
        assert_eq!(jwt_part(t["access_token"].as_str().unwrap(), 0)["alg"], "EdDSA");
    }
    let active = &out["introspect_access"];
    assert_eq!((active["active"].as_bool(), active["client_id"].as_str()), (Some(true), Some(client.id.as_str())));
    let refreshed = &out["refreshed"];
    assert_ne!(refreshed["refresh_token"].as_str().unwrap(), refresh, "the refresh token rotated");
    assert_eq!(app.me(refreshed["access_token"].as_str().unwrap()).status, 200);
    assert_eq!(out["introspect_refresh"]["active"], true);
    assert_eq!(out["introspect_refresh"]["token_type"], "refresh_token");
    assert_eq!(out["introspect_used_refresh"], serde_json::json!({"active": false}));
    assert_eq!(out["revoke_status"], 200);
    assert_eq!(out["introspect_revoked"], serde_json::json!({"active": false}));
}
