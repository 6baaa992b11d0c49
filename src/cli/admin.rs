//! The admin commands: keys and users, straight on the database, so an admin
//! can rotate or revoke with every instance down. Tables for people, `--json`
//! for scripts. Running instances pick the change up within 5 seconds.

use serde_json::{Value, json};

use super::out;

use crate::config::Settings;
use crate::db::{self, DbConnection};
use crate::domain::{Email, Role};
use crate::keys::Alg;
use crate::keys::master::MasterKey;
use crate::keys::rotation::{self, FaultAt, KeyContext};
use crate::routes::admin::{Actor, apply_user_patch, key_view, user_view};

fn connect(settings: &Settings) -> Result<DbConnection, String> {
    let mut conn = db::establish(&settings.database_url).map_err(|e| e.to_string())?;
    db::run_migrations(&mut conn).map_err(|e| e.to_string())?;
    Ok(conn)
}

/// The master key, proven against the stored keys before anything is written:
/// a key encrypted under a wrong master key would break every instance.
fn master_key(settings: &Settings, conn: &mut DbConnection) -> Result<MasterKey, String> {
    let master = MasterKey::load(&settings.master_key, false).map_err(|e| e.to_string())?;
    crate::keys::store::load_key_set(conn, &master, &Alg::ALL).map_err(|e| e.to_string())?;
    Ok(master)
}

fn context<'a>(settings: &Settings, master: &'a MasterKey) -> KeyContext<'a> {
    KeyContext {
        master,
        rsa_bits: settings.rsa_bits,
        prepublish_secs: settings.prepublish.as_secs() as i64,
        access_ttl_secs: settings.access_ttl.as_secs() as i64,
        actor: "cli",
        fault: FaultAt::default(),
    }
}

/// Prints rows of a JSON array as an aligned table with the given columns.
fn print_table(rows: &[Value], columns: &[&str]) {
    let cell = |row: &Value, col: &str| match &row[col] {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|c| rows.iter().map(|r| cell(r, c).chars().count()).max().unwrap_or(0).max(c.len()))
        .collect();
    let line = |cells: Vec<String>| {
        cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_owned()
    };
    out!("{}", line(columns.iter().map(|c| c.to_uppercase()).collect()));
    for row in rows {
        out!("{}", line(columns.iter().map(|c| cell(row, c)).collect()));
    }
}

fn print(value: &Value, json_out: bool, table: impl FnOnce(&Value)) {
    if json_out {
        out!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
    } else {
        table(value);
    }
}

pub fn list_keys(settings: &Settings, json_out: bool) -> Result<(), String> {
    let mut conn = connect(settings)?;
    let rows = db::keys::list_keys(&mut conn).map_err(|e| e.to_string())?;
    let keys: Vec<Value> = rows.iter().map(key_view).collect();
    print(&json!({"keys": keys}), json_out, |_| {
        print_table(
            &keys,
            &["kid", "alg", "state", "created_at", "activated_at", "retired_at", "expires_at", "revoked_at"],
        )
    });
    Ok(())
}

pub fn rotate(settings: &Settings, alg: Option<String>, force: bool, json_out: bool) -> Result<(), String> {
    let algs = match alg {
        None => settings.algs.clone(),
        Some(a) => {
            let alg = Alg::parse(&a).ok_or("--alg must be RS256 or EdDSA")?;
            if !settings.algs.contains(&alg) {
                return Err(format!("{alg} is not in TESSERA_ALGS"));
            }
            vec![alg]
        }
    };
    let mut conn = connect(settings)?;
    let master = master_key(settings, &mut conn)?;
    let rotated = rotation::rotate(&mut conn, &algs, force, &context(settings, &master)).map_err(|e| e.to_string())?;
    let rows: Vec<Value> = rotated.iter().map(|r| json!(r)).collect();
    print(&json!({"rotated": rows}), json_out, |_| {
        print_table(&rows, &["alg", "retired_kid", "active_kid", "next_kid"])
    });
    Ok(())
}

pub fn revoke(settings: &Settings, kid: &str, json_out: bool) -> Result<(), String> {
    let mut conn = connect(settings)?;
    let master = master_key(settings, &mut conn)?;
    let revoked = rotation::revoke(&mut conn, kid, &context(settings, &master)).map_err(|e| e.to_string())?;
    print(&json!({"revoked": revoked}), json_out, |_| {
        out!("revoked {} ({}, was {})", revoked.kid, revoked.alg, revoked.previous_state);
        if let Some(r) = &revoked.rotated {
            out!("rotated {}: {} now signs, {} is next", r.alg, r.active_kid, r.next_kid);
        }
    });
    Ok(())
}

pub fn list_users(settings: &Settings, json_out: bool) -> Result<(), String> {
    let mut conn = connect(settings)?;
    let mut users = Vec::new();
    loop {
        let page = db::users::list_users(&mut conn, 500, users.len() as i64).map_err(|e| e.to_string())?;
        let done = page.len() < 500;
        users.extend(page.iter().map(user_view));
        if done {
            break;
        }
    }
    print(&json!({"users": users}), json_out, |_| {
        print_table(&users, &["id", "email", "role", "created_at", "disabled"])
    });
    Ok(())
}

pub fn set_role(
    settings: &Settings,
    email: Option<String>,
    id: Option<String>,
    role: &str,
    json_out: bool,
) -> Result<(), String> {
    let role = Role::parse(role).ok_or("--role must be user or admin")?;
    let mut conn = connect(settings)?;
    let id = match (id, email) {
        (Some(id), _) => id,
        (None, Some(email)) => {
            let email = Email::parse(&email).map_err(str::to_owned)?;
            db::users::find_user_by_email(&mut conn, email.normalized())
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no account has the email {}", email.as_str()))?
                .id
        }
        (None, None) => return Err("give --email or --id".into()),
    };
    let user = apply_user_patch(&mut conn, Actor::Cli, &id, Some(role), None).map_err(|e| e.to_string())?;
    let view = user_view(&user);
    print(&view, json_out, |v| out!("{} ({}) is now {}", v["email"].as_str().unwrap_or(""), id, role.as_str()));
    Ok(())
}

fn client_view(c: &crate::db::clients::ClientRow) -> Value {
    json!({
        "client_id": c.id, "name": c.name, "scope": c.scopes, "audience": c.audience, "alg": c.alg,
        "created_at": crate::time::rfc3339(c.created_at),
    })
}

pub fn create_client(
    settings: &Settings,
    name: &str,
    scope: &str,
    audience: Option<String>,
    alg: Option<String>,
    json_out: bool,
) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err("--name must be 1 to 200 characters".into());
    }
    let scopes = crate::auth::clients::parse_scopes(scope)?;
    let alg = match alg {
        None => settings.signing_alg,
        Some(a) => Alg::parse(&a).ok_or("--alg must be RS256 or EdDSA")?,
    };
    if !settings.algs.contains(&alg) {
        return Err(format!("{alg} is not in TESSERA_ALGS"));
    }
    let audience = audience.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    let mut conn = connect(settings)?;
    let (row, secret) = crate::auth::clients::create_client(&mut conn, name, &scopes, audience.as_deref(), alg)
        .map_err(|e| e.to_string())?;
    let mut view = client_view(&row);
    view["client_secret"] = secret.clone().into();
    print(&view, json_out, |_| {
        out!("client_id:     {}", row.id);
        out!("client_secret: {secret}");
        out!("(the secret is shown only now; tessera keeps only its hash)");
    });
    Ok(())
}

pub fn list_clients(settings: &Settings, json_out: bool) -> Result<(), String> {
    let mut conn = connect(settings)?;
    let rows = crate::db::clients::list_clients(&mut conn).map_err(|e| e.to_string())?;
    let clients: Vec<Value> = rows.iter().map(client_view).collect();
    print(&json!({"clients": clients}), json_out, |_| {
        print_table(&clients, &["client_id", "name", "scope", "audience", "alg", "created_at"])
    });
    Ok(())
}

pub fn delete_client(settings: &Settings, id: &str) -> Result<(), String> {
    let mut conn = connect(settings)?;
    let deleted = db::write_txn(&mut conn, |c| -> Result<bool, diesel::result::Error> {
        let deleted = crate::db::clients::delete_client(c, id)?;
        if deleted {
            crate::db::audit::insert_event(c, "cli", "client.deleted", id, json!({}))?;
        }
        Ok(deleted)
    })
    .map_err(|e| e.to_string())?;
    if !deleted {
        return Err(format!("no client has the id {id}"));
    }
    out!("deleted client {id}");
    Ok(())
}
