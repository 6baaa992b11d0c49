//! The `tessera` binary itself: `config`, bad values, `users create`,
//! `migrate`, `token verify` and `--help`. Each run gets a clean environment
//! (PATH and the TESSERA_* variables the test sets) and a temp dir as its
//! working directory, so nothing lands in the repository.

use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

use crate::helpers::*;

/// Every variable of SPEC §1 and the bootstrap pair of §5.
const SPEC_VARS: &[&str] = &[
    "TESSERA_BIND",
    "TESSERA_DATABASE_URL",
    "TESSERA_ISSUER",
    "TESSERA_AUDIENCE",
    "TESSERA_ACCESS_TTL",
    "TESSERA_REFRESH_TTL",
    "TESSERA_ALGS",
    "TESSERA_SIGNING_ALG",
    "TESSERA_ACCESS_TOKEN_TYP",
    "TESSERA_RSA_BITS",
    "TESSERA_PASSWORD_MIN",
    "TESSERA_ROTATION_INTERVAL",
    "TESSERA_PREPUBLISH",
    "TESSERA_JWKS_MAX_AGE",
    "TESSERA_REFRESH_GRACE",
    "TESSERA_MASTER_KEY",
    "TESSERA_MASTER_KEY_FILE",
    "TESSERA_BOOTSTRAP_ADMIN_EMAIL",
    "TESSERA_BOOTSTRAP_ADMIN_PASSWORD",
];

/// Runs `tessera ARGS` in `dir` with only PATH and `env`, feeding `stdin`.
fn tessera(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    run_tessera(dir, args, env, stdin)
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[test]
fn config_prints_every_variable_as_name_equals_value() {
    let dir = tempfile::tempdir().unwrap();
    let key = B64.encode(rand_bytes());
    // With the master key from the file (the default) and given inline: every
    // variable is listed either way, as the unset bootstrap pair is.
    let mut missing = Vec::new();
    for env in [&[][..], &[("TESSERA_MASTER_KEY", key.as_str())][..]] {
        let run = tessera(dir.path(), &["config"], env, "");
        assert!(run.success(), "{run:?}");
        for line in run.stdout.lines().filter(|l| !l.trim().is_empty()) {
            let (name, _) = line.split_once('=').unwrap_or_else(|| panic!("not NAME=value: {line:?}"));
            assert!(name.starts_with("TESSERA_"), "{line:?}");
        }
        let set: Vec<&str> = env.iter().map(|(k, _)| *k).collect();
        for var in SPEC_VARS {
            if !run.stdout.lines().any(|l| l.starts_with(&format!("{var}="))) {
                missing.push(format!("{var} (with {set:?} set)"));
            }
        }
    }
    assert!(missing.is_empty(), "`tessera config` has no line for {missing:?}");
}

#[test]
fn config_masks_the_master_key_and_the_database_password() {
    let dir = tempfile::tempdir().unwrap();
    let key = base64::engine::general_purpose::STANDARD.encode(rand_bytes());
    let env = [("TESSERA_MASTER_KEY", key.as_str()), ("TESSERA_DATABASE_URL", "postgres://app:s3cret@db/x")];
    let run = tessera(dir.path(), &["config"], &env, "");
    assert!(run.success(), "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains(&key), "the master key is printed: {run:?}");
    assert!(!all.contains(key.trim_end_matches('=')), "the master key is printed: {run:?}");
    assert!(!all.contains("s3cret"), "the database password is printed: {run:?}");
    let line = |name: &str| run.stdout.lines().find(|l| l.starts_with(&format!("{name}="))).map(str::to_owned);
    assert!(line("TESSERA_MASTER_KEY").is_some_and(|l| l.contains("***")), "{run:?}");
    let db = line("TESSERA_DATABASE_URL").unwrap_or_else(|| panic!("{run:?}"));
    assert!(db.contains("***") && db.contains("@db/x"), "{db}");
}

#[test]
fn a_bad_value_exits_non_zero_and_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [("TESSERA_ACCESS_TTL", "15minutes"), ("TESSERA_RSA_BITS", "1024"), ("TESSERA_ALGS", "HS256")] {
        for args in [&["config"][..], &["migrate"][..]] {
            let run = tessera(dir.path(), args, &[(var, value)], "");
            assert!(!run.success(), "{var}={value} {args:?}: {run:?}");
            assert!(run.stderr.contains(var), "{var}={value} {args:?}: {run:?}");
        }
    }
    assert!(!dir.path().join("data").exists(), "a refused start created the database");
}

#[test]
fn users_create_makes_an_admin_who_can_log_in() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let tessera::config::DatabaseUrl::Sqlite(path) = &db.url else { unreachable!() };
    let url = sqlite_url(path);
    let env = [("TESSERA_DATABASE_URL", url.as_str())];
    let args = ["users", "create", "--email", "admin@example.test", "--role", "admin"];
    let password = format!("{PASSWORD}\n");

    let created = tessera(db.dir.path(), &args, &env, &password);
    assert!(created.success(), "{created:?}");
    assert!(path.exists(), "the SQLite file was not created at {}", path.display());

    let again = tessera(db.dir.path(), &args, &env, &password);
    assert!(!again.success(), "{again:?}");
    assert!(again.stderr.contains("already exists"), "{again:?}");

    let weak = ["users", "create", "--email", "weak@example.test"];
    let run = tessera(db.dir.path(), &weak, &env, "1qaz2wsx3edc\n");
    assert!(!run.success(), "a common password was accepted: {run:?}");
    let run = tessera(db.dir.path(), &weak, &env, "short\n");
    assert!(!run.success(), "a short password was accepted: {run:?}");

    let app = start(test_settings(&db)).expect("the app starts on the CLI's database");
    let login = app.login("admin@example.test", PASSWORD);
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_part(&token, 1)["role"], "admin");
    assert_eq!(app.login("weak@example.test", "1qaz2wsx3edc").status, 401);
}

#[test]
fn migrate_creates_a_fresh_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh/tessera.db");
    let run = tessera(dir.path(), &["migrate"], &[("TESSERA_DATABASE_URL", &sqlite_url(&path))], "");
    assert!(run.success(), "{run:?}");
    assert!(path.exists(), "{} was not created: {run:?}", path.display());
    let again = tessera(dir.path(), &["migrate"], &[("TESSERA_DATABASE_URL", &sqlite_url(&path))], "");
    assert!(again.success(), "{again:?}");
}

#[test]
fn token_verify_accepts_a_valid_token_and_refuses_a_tampered_one() {
    let app = spawn_app(Backend::Sqlite).unwrap();
    let (_, token) = app.new_user();
    let jwks = app.url("/.well-known/jwks.json");
    let issuer = app.state.tokens.issuer.clone();
    let verify = |jwt: &str, jwks: &str| {
        tessera(app.db.dir.path(), &["token", "verify", jwt, "--jwks", jwks, "--issuer", &issuer], &[], "")
    };

    let ok = verify(&token, &jwks);
    assert!(ok.success(), "{ok:?}");
    let out: Value = serde_json::from_str(&ok.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {ok:?}"));
    let (header, claims) = (jwt_part(&token, 0), jwt_part(&token, 1));
    assert_eq!(out["header"]["kid"], header["kid"], "{ok:?}");
    assert_eq!(out["claims"]["sub"], claims["sub"], "{ok:?}");

    let tampered = tamper_payload(&token);
    let bad = verify(&tampered, &jwks);
    assert!(!bad.success(), "{bad:?}");
    assert!(bad.stderr.contains("not valid"), "{bad:?}");

    let unreachable = "http://127.0.0.1:9/.well-known/jwks.json";
    let down = verify(&token, unreachable);
    assert!(!down.success(), "{down:?}");
    assert!(down.stderr.contains("JWKS") && down.stderr.contains(unreachable), "{down:?}");
}

#[test]
fn every_subcommand_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["migrate"],
        &["config"],
        &["users"],
        &["users", "create"],
        &["token"],
        &["token", "verify"],
    ];
    for command in commands {
        let args: Vec<&str> = command.iter().copied().chain(["--help"]).collect();
        let run = tessera(dir.path(), &args, &[], "");
        assert!(run.success(), "{args:?}: {run:?}");
        assert!(run.stdout.contains("Usage"), "{args:?}: {run:?}");
    }
    assert!(!dir.path().join("data").exists(), "--help touched the database");
}

/// Changes one character in the middle of the payload to another base64url character.
fn tamper_payload(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Vec<u8> = parts[1].bytes().collect();
    let i = payload.len() / 2;
    payload[i] = if payload[i] == b'A' { b'B' } else { b'A' };
    let payload = String::from_utf8(payload).unwrap();
    assert_ne!(payload, parts[1]);
    format!("{}.{}.{}", parts[0], payload, parts[2])
}

#[test]
fn tessera_toml_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tessera.toml"),
        "access_ttl = \"5m\"\nrsa_bits = 3072\nbind = \"127.0.0.1:9999\"\n",
    )
    .unwrap();
    let run = tessera(dir.path(), &["config"], &[("TESSERA_BIND", "127.0.0.1:7777")], "");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("TESSERA_ACCESS_TTL=5m\n"), "{}", run.stdout);
    assert!(run.stdout.contains("TESSERA_RSA_BITS=3072\n"));
    assert!(run.stdout.contains("TESSERA_BIND=127.0.0.1:7777\n"), "the environment wins");

    std::fs::write(dir.path().join("tessera.toml"), "acess_ttl = \"5m\"\n").unwrap();
    let run = tessera(dir.path(), &["config"], &[], "");
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("acess_ttl"), "{}", run.stderr);

    let run = tessera(dir.path(), &["config"], &[("TESSERA_CONFIG", "/nonexistent/tessera.toml")], "");
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("TESSERA_CONFIG"), "{}", run.stderr);
}

#[test]
fn an_empty_variable_does_not_override_tessera_toml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tessera.toml"), "access_ttl = \"1h\"\n").unwrap();
    let run = tessera(dir.path(), &["config"], &[("TESSERA_ACCESS_TTL", "")], "");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("TESSERA_ACCESS_TTL=1h\n"), "{}", run.stdout);
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("config")
        .current_dir(dir.path())
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`: the reader is gone before the first line
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
