//! `tessera keys …` and `tessera users list|set-role` (SPEC §6), run as the
//! real binary against the SQLite database of a running test app, with the
//! app's master key: the app sees each change within 5 seconds.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tessera::config::{DatabaseUrl, MasterKeySource};
use tessera::keys::Alg;

use crate::admin::{assert_no_private_material, private_keys};
use crate::helpers::*;

/// A running app on SQLite and the environment that points the CLI at its
/// database with its master key.
struct Fixture {
    app: Spawned,
    env: Vec<(&'static str, String)>,
}

impl Fixture {
    fn new() -> Self {
        let app = spawn_app(Backend::Sqlite).expect("SQLite is always available");
        let DatabaseUrl::Sqlite(path) = &app.db.url else { unreachable!("a SQLite app") };
        let MasterKeySource::Inline(key) = &app.settings.master_key else { unreachable!("test apps use inline keys") };
        let env = vec![
            ("TESSERA_DATABASE_URL", format!("sqlite://{}", path.display())),
            ("TESSERA_MASTER_KEY", STANDARD.encode(key.0)),
        ];
        Self { app, env }
    }

    /// Runs `tessera ARGS` with the fixture's environment plus `extra`.
    fn run(&self, args: &[&str], extra: &[(&'static str, &str)]) -> Run {
        let mut env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            env.push((k, v));
        }
        tessera(self.app.db.dir.path(), args, &env)
    }

    /// (kid, alg, state) of every key, as the database has it.
    fn key_states(&self) -> Vec<(String, String, String)> {
        let rows = tessera::db::keys::list_keys(&mut self.app.state.pool.get().unwrap()).unwrap();
        let mut states: Vec<_> = rows.into_iter().map(|r| (r.kid, r.alg, r.state)).collect();
        states.sort();
        states
    }

    fn kid(&self, alg: &str, state: &str) -> String {
        let states = self.key_states();
        let found: Vec<_> = states.iter().filter(|(_, a, s)| a == alg && s == state).collect();
        assert_eq!(found.len(), 1, "expected one {state} {alg} key in {states:?}");
        found[0].0.clone()
    }

    fn role(&self, id: &str) -> String {
        tessera::db::users::find_user(&mut self.app.state.pool.get().unwrap(), id).unwrap().unwrap().role
    }
}

/// Runs `tessera ARGS` in `dir` with only PATH and `env`, stdin closed.
fn tessera(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    run_tessera(dir, args, env, "")
}

/// `keys revoke [--json] KID`. A kid is base64url, so one in 64 begins with
/// `-`; `keys_revoke_takes_a_kid_that_starts_with_a_hyphen` checks that form,
/// and here `--` keeps other tests about what they test.
fn revoke_args(kid: &str, json: bool) -> Vec<&str> {
    let mut args = vec!["keys", "revoke"];
    if json {
        args.push("--json");
    }
    if kid.starts_with('-') {
        args.push("--");
    }
    args.push(kid);
    args
}

fn sub(token: &str) -> String {
    jwt_part(token, 1)["sub"].as_str().unwrap().to_owned()
}

#[test]
fn keys_list_prints_a_table_and_json_of_every_key() {
    let f = Fixture::new();
    let states = f.key_states();
    assert_eq!(states.len(), 4);

    let table = f.run(&["keys", "list"], &[]);
    assert!(table.success(), "{table:?}");
    let lines: Vec<&str> = table.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    let header: Vec<&str> = lines.first().unwrap_or_else(|| panic!("{table:?}")).split_whitespace().collect();
    for column in ["KID", "ALG", "STATE", "CREATED_AT", "ACTIVATED_AT", "RETIRED_AT", "EXPIRES_AT", "REVOKED_AT"] {
        assert!(header.contains(&column), "no {column} column: {table:?}");
    }
    assert_eq!(lines.len(), 5, "a header and 4 rows: {table:?}");
    for (kid, alg, state) in &states {
        let row = lines.iter().find(|l| l.contains(kid.as_str())).unwrap_or_else(|| panic!("no row for {kid}"));
        assert!(row.contains(alg.as_str()) && row.contains(state.as_str()), "{row}");
    }

    let run = f.run(&["keys", "list", "--json"], &[]);
    assert!(run.success(), "{run:?}");
    let keys = run.json()["keys"].as_array().unwrap_or_else(|| panic!("no keys array: {run:?}")).clone();
    assert_eq!(keys.len(), 4, "{run:?}");
    let mut listed: Vec<(String, String, String)> = keys
        .iter()
        .map(|k| {
            let s = |name: &str| k[name].as_str().unwrap_or_else(|| panic!("no {name} in {k}")).to_owned();
            (s("kid"), s("alg"), s("state"))
        })
        .collect();
    listed.sort();
    assert_eq!(listed, states);
    assert_eq!(keys.iter().filter(|k| k["state"] == "active").count(), 2);
    assert_eq!(keys.iter().filter(|k| k["state"] == "next").count(), 2);
}

#[test]
fn keys_rotate_refuses_a_young_next_key_and_force_rotates_one_algorithm() {
    let f = Fixture::new();
    let before = f.key_states();
    let rs256_active = f.app.active_kid(Alg::Rs256);

    let run = f.run(&["keys", "rotate"], &[]);
    assert!(!run.success(), "a rotation with young next keys went through: {run:?}");
    assert!(run.stderr.contains("TESSERA_PREPUBLISH"), "{run:?}");
    let rows = tessera::db::keys::list_keys(&mut f.app.state.pool.get().unwrap()).unwrap();
    let ready_times: Vec<String> =
        rows.iter().filter(|r| r.state == "next").map(|r| tessera::time::rfc3339(r.created_at + 7200)).collect();
    assert!(ready_times.iter().any(|t| run.stderr.contains(t.as_str())), "no ready time {ready_times:?}: {run:?}");
    assert_eq!(f.key_states(), before, "a refused rotation changed the keys");

    let run = f.run(&["keys", "rotate", "--alg", "HS256", "--force"], &[]);
    assert!(!run.success(), "{run:?}");
    assert_eq!(f.key_states(), before);

    let (old_active, old_next) = (f.kid("EdDSA", "active"), f.kid("EdDSA", "next"));
    let run = f.run(&["keys", "rotate", "--alg", "EdDSA", "--force", "--json"], &[]);
    assert!(run.success(), "{run:?}");
    let rotated = run.json()["rotated"].clone();
    assert_eq!(rotated.as_array().map(Vec::len), Some(1), "{run:?}");
    let r = &rotated[0];
    assert_eq!(r["alg"], "EdDSA", "{r}");
    assert_eq!(r["retired_kid"], old_active.as_str(), "{r}");
    assert_eq!(r["active_kid"], old_next.as_str(), "{r}");
    let next_kid = r["next_kid"].as_str().unwrap().to_owned();
    assert_eq!(f.kid("EdDSA", "next"), next_kid);
    assert_eq!(f.kid("RS256", "active"), rs256_active, "RS256 was rotated too");

    f.app.eventually(5, "the app publishes the new next key", || f.app.jwks_kids().contains(&next_kid));
    f.app.eventually(5, "the app signs EdDSA with the promoted key", || f.app.active_kid(Alg::EdDsa) == old_next);
    assert_eq!(f.app.active_kid(Alg::Rs256), rs256_active);
    let (_, token) = f.app.new_user();
    assert_eq!(jwt_part(&token, 0)["kid"], rs256_active.as_str(), "user tokens (RS256) changed key");
    assert_eq!(f.app.me(&token).status, 200);
}

#[test]
fn keys_revoke_reaches_the_running_app_within_5_seconds() {
    let f = Fixture::new();
    let (_, token) = f.app.new_user();
    let kid = f.app.active_kid(Alg::Rs256);
    assert_eq!(f.app.me(&token).status, 200);

    let run = f.run(&revoke_args(&kid, true), &[]);
    assert!(run.success(), "{run:?}");
    assert_eq!(run.json()["revoked"]["kid"], kid.as_str(), "{run:?}");
    f.app.eventually(5, "the app rejects tokens of the revoked key", || f.app.me(&token).status == 401);
    f.app.eventually(5, "the app unpublishes the revoked key", || !f.app.jwks_kids().contains(&kid));
    let keys = f.key_states();
    for alg in ["RS256", "EdDSA"] {
        f.kid(alg, "active");
        f.kid(alg, "next");
    }
    assert!(keys.iter().any(|(k, _, s)| *k == kid && s == "revoked"), "{keys:?}");

    let again = f.run(&revoke_args(&kid, false), &[]);
    assert!(!again.success(), "{again:?}");
    assert!(again.stderr.contains("already revoked"), "{again:?}");
    let unknown = f.run(&["keys", "revoke", "nonexistent"], &[]);
    assert!(!unknown.success(), "{unknown:?}");
    assert!(!unknown.stderr.trim().is_empty(), "{unknown:?}");
    assert_eq!(f.key_states(), keys, "a refused revocation changed the keys");
}

#[test]
fn keys_revoke_takes_a_kid_that_starts_with_a_hyphen() {
    // `keys list` prints such kids; pasting one into `keys revoke KID` (SPEC §6)
    // must reach the key lookup, not fail as an unknown option.
    let f = Fixture::new();
    let run = f.run(&["keys", "revoke", "-fkTwcPgHLD_Xrlf2fAb3edOiqioGx_E8P2yJDx9708"], &[]);
    assert!(!run.success(), "{run:?}");
    assert!(
        !run.stderr.contains("Usage") && run.stderr.contains("-fkTwcPgHLD_Xrlf2fAb3edOiqioGx_E8P2yJDx9708"),
        "a kid starting with '-' is taken for an option: {run:?}"
    );
}

/// Runs a key command with a master key that is not the database's and
/// asserts it fails, names the master key, and leaves the keys as they were.
fn assert_refused_with_a_wrong_master_key(f: &Fixture, args: &[&str]) {
    let before = f.key_states();
    let wrong = STANDARD.encode(rand_bytes());
    let run = f.run(args, &[("TESSERA_MASTER_KEY", &wrong)]);
    let after = f.key_states();
    assert!(!run.success(), "tessera {args:?} with a wrong master key succeeded: {run:?}");
    assert!(run.stderr.to_lowercase().contains("master key"), "{run:?}");
    assert_eq!(after, before, "tessera {args:?} with a wrong master key changed the keys");
}

#[test]
fn keys_rotate_with_a_wrong_master_key_fails_and_changes_nothing() {
    let f = Fixture::new();
    assert_refused_with_a_wrong_master_key(&f, &["keys", "rotate", "--force"]);
}

#[test]
fn keys_revoke_of_an_active_key_with_a_wrong_master_key_fails_and_changes_nothing() {
    let f = Fixture::new();
    let active = f.kid("RS256", "active");
    assert_refused_with_a_wrong_master_key(&f, &revoke_args(&active, false));
}

#[test]
fn users_list_and_set_role_manage_roles_without_losing_the_last_admin() {
    let f = Fixture::new();
    let (admin_id, admin) = f.app.new_admin();
    let (email, user) = f.app.new_user();
    let user_id = sub(&user);

    let table = f.run(&["users", "list"], &[]);
    assert!(table.success(), "{table:?}");
    let header: Vec<&str> = table.stdout.lines().next().unwrap_or_default().split_whitespace().collect();
    for column in ["ID", "EMAIL", "ROLE"] {
        assert!(header.contains(&column), "no {column} column: {table:?}");
    }
    assert!(table.stdout.contains(&email) && table.stdout.contains(&user_id), "{table:?}");
    assert!(!table.stdout.contains("$argon2"), "{table:?}");
    let run = f.run(&["users", "list", "--json"], &[]);
    assert!(run.success(), "{run:?}");
    assert!(!run.stdout.contains("$argon2"), "{run:?}");
    let users = run.json()["users"].as_array().unwrap_or_else(|| panic!("no users array: {run:?}")).clone();
    assert_eq!(users.len(), 2, "{run:?}");
    let listed = users.iter().find(|u| u["id"] == user_id.as_str()).unwrap_or_else(|| panic!("{run:?}"));
    assert_eq!((&listed["email"], &listed["role"]), (&json!(email), &json!("user")));

    assert_eq!(f.app.get_authed("/admin/keys", &user).status, 403);
    let run = f.run(&["users", "set-role", "--email", &email, "--role", "admin"], &[]);
    assert!(run.success(), "{run:?}");
    assert_eq!(f.role(&user_id), "admin");
    assert_eq!(f.app.get_authed("/admin/keys", &user).status, 200, "the promoted user's token is not admin");
    let audit = f.app.get_authed("/admin/audit", &admin).json();
    let event = &audit["events"][0];
    assert_eq!(
        (&event["action"], &event["actor"], &event["subject"]),
        (&json!("user.role_changed"), &json!("cli"), &json!(user_id))
    );

    let run = f.run(&["users", "set-role", "--id", &user_id, "--role", "user", "--json"], &[]);
    assert!(run.success(), "{run:?}");
    assert_eq!(run.json()["role"], "user", "{run:?}");
    assert_eq!(f.role(&user_id), "user");

    let run = f.run(&["users", "set-role", "--email", "nobody@example.test", "--role", "admin"], &[]);
    assert!(!run.success(), "{run:?}");
    assert!(!run.stderr.trim().is_empty(), "{run:?}");

    let run = f.run(&["users", "set-role", "--id", &admin_id, "--role", "user"], &[]);
    assert!(!run.success(), "the last admin was demoted: {run:?}");
    assert!(run.stderr.contains("last enabled admin"), "{run:?}");
    assert_eq!(f.role(&admin_id), "admin");
}

#[test]
fn key_commands_print_no_private_key_material_even_with_debug_logs() {
    let f = Fixture::new();
    let mut secrets = private_keys(&f.app);
    let mut outputs = Vec::new();
    let runs: [&[&str]; 4] = [
        &["keys", "list"],
        &["keys", "list", "--json"],
        &["keys", "rotate", "--force"],
        &["keys", "rotate", "--force", "--json"],
    ];
    for args in runs {
        for extra in [&[][..], &[("TESSERA_LOG", "debug")][..]] {
            let run = f.run(args, extra);
            assert!(run.success(), "{args:?}: {run:?}");
            outputs.push((format!("{args:?} {extra:?}"), format!("{}\n{}", run.stdout, run.stderr)));
            secrets.extend(private_keys(&f.app));
        }
    }
    // Revoke an active, a next and a retired key; their private halves are
    // erased by the revocation, so they were collected above.
    let retired = f.key_states().into_iter().find(|(_, _, s)| s == "retired").expect("a retired key").0;
    let kids = [f.kid("RS256", "active"), f.kid("EdDSA", "next"), retired];
    secrets.extend(private_keys(&f.app));
    for (kid, json) in kids.iter().zip([false, true, true]) {
        let args = revoke_args(kid, json);
        let run = f.run(&args, &[("TESSERA_LOG", "debug")]);
        assert!(run.success(), "{args:?}: {run:?}");
        outputs.push((format!("{args:?}"), format!("{}\n{}", run.stdout, run.stderr)));
        secrets.extend(private_keys(&f.app));
    }
    secrets.sort();
    secrets.dedup();
    assert!(secrets.len() >= 8, "{} private keys", secrets.len());
    for (what, output) in &outputs {
        assert_no_private_material(what, output, &secrets);
    }
}
