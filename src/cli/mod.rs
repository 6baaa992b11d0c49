//! The command line: `serve` (the default), `migrate`, `config`,
//! `users create`, `token verify`. Each command returns a message on failure;
//! `main` prints it to standard error and exits non-zero.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use clap::{Parser, Subcommand};

use crate::auth::Verifier;
use crate::config::Settings;
use crate::db::{self, users::UserRow};
use crate::domain::{Email, Password, Role};
use crate::keys::set::LoadedKey;
use crate::keys::{KeySet, KeyState, PublicJwk};
use crate::startup::Application;

mod admin;

/// Writes a line to standard output. A closed pipe (`tessera keys list | head -1`)
/// ends the command quietly instead of panicking as `println!` would.
pub fn emit(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` for command output; see `emit`.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::emit(format_args!($($arg)*)) };
}
pub(crate) use out;

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Issues JWT access tokens signed with rotating keys and publishes them as a JWKS"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default with no subcommand).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the effective configuration, secrets masked.
    Config,
    /// Manage accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Manage signing keys (acts on the database directly; works with every instance down).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage service clients (client_credentials).
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Inspect tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account; the password is read from standard input (one line).
    Create {
        #[arg(long)]
        email: String,
        /// `user` or `admin`.
        #[arg(long, default_value = "user", value_parser = ["user", "admin"])]
        role: String,
    },
    /// List accounts.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Change an account's role.
    SetRole {
        /// The account's email (or give --id).
        #[arg(long, required_unless_present = "id", conflicts_with = "id")]
        email: Option<String>,
        #[arg(long)]
        id: Option<String>,
        #[arg(long, value_parser = ["user", "admin"])]
        role: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Create a client; prints its id and secret once (only a hash is stored).
    Create {
        #[arg(long)]
        name: String,
        /// Space-separated scopes the client may ask for.
        #[arg(long, default_value = "")]
        scope: String,
        /// The `aud` of its tokens [default: TESSERA_AUDIENCE].
        #[arg(long)]
        audience: Option<String>,
        /// RS256 or EdDSA [default: TESSERA_SIGNING_ALG].
        #[arg(long)]
        alg: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List clients (never secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a client: its tokens stop working and it gets no new ones.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List every key with its state and times (never private material).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Promote the next key, retire the active one, create a fresh next key.
    Rotate {
        /// Rotate only this algorithm (RS256 or EdDSA); default: all of TESSERA_ALGS.
        #[arg(long)]
        alg: Option<String>,
        /// Rotate even if the next key is younger than TESSERA_PREPUBLISH.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: unpublished at once, its tokens rejected.
    Revoke {
        /// The kid (base64url, so it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Verify a token against a JWKS fetched over HTTP; print its header and claims.
    Verify {
        /// The JWT to verify.
        jwt: String,
        /// JWKS URL [default: ISSUER/.well-known/jwks.json].
        #[arg(long)]
        jwks: Option<String>,
        /// Expected `iss` [default: the configured issuer].
        #[arg(long)]
        issuer: Option<String>,
        /// Expected `aud` [default: the configured audience].
        #[arg(long)]
        audience: Option<String>,
    },
}

pub fn run(cli: Cli, settings: Settings) -> Result<(), String> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => {
            let mut conn = db::establish(&settings.database_url).map_err(|e| e.to_string())?;
            let applied = db::run_migrations(&mut conn).map_err(|e| e.to_string())?;
            if applied.is_empty() {
                out!("the database at {} is up to date", settings.database_url);
            }
            for version in applied {
                out!("applied migration {version}");
            }
            Ok(())
        }
        Command::Config => {
            for (name, value) in settings.describe() {
                out!("{name}={value}");
            }
            Ok(())
        }
        Command::Users { command: UsersCommand::Create { email, role } } => create_user(&settings, &email, &role),
        Command::Users { command: UsersCommand::List { json } } => admin::list_users(&settings, json),
        Command::Users { command: UsersCommand::SetRole { email, id, role, json } } => {
            admin::set_role(&settings, email, id, &role, json)
        }
        Command::Clients { command } => match command {
            ClientsCommand::Create { name, scope, audience, alg, json } => {
                admin::create_client(&settings, &name, &scope, audience, alg, json)
            }
            ClientsCommand::List { json } => admin::list_clients(&settings, json),
            ClientsCommand::Delete { id } => admin::delete_client(&settings, &id),
        },
        Command::Keys { command } => match command {
            KeysCommand::List { json } => admin::list_keys(&settings, json),
            KeysCommand::Rotate { alg, force, json } => admin::rotate(&settings, alg, force, json),
            KeysCommand::Revoke { kid, json } => admin::revoke(&settings, &kid, json),
        },
        Command::Token { command: TokenCommand::Verify { jwt, jwks, issuer, audience } } => {
            verify_token(&settings, &jwt, jwks, issuer, audience)
        }
    }
}

fn serve(settings: Settings) -> Result<(), String> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await.map_err(|e| e.to_string())?;
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

fn create_user(settings: &Settings, email: &str, role: &str) -> Result<(), String> {
    let email = Email::parse(email).map_err(str::to_owned)?;
    let role = Role::parse(role).ok_or("role must be user or admin")?;
    let stdin = std::io::stdin();
    // At a terminal the password is typed without echo; from a pipe it is the first line.
    let line = if stdin.is_terminal() {
        rpassword::prompt_password(format!("password for {}: ", email.as_str()))
            .map_err(|e| format!("cannot read the password: {e}"))?
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
        line
    };
    let password =
        Password::parse(line.trim_end_matches(['\n', '\r']), settings.password_min).map_err(|e| e.to_string())?;
    let hasher = crate::auth::Hasher::new(settings.argon2)?;
    let row = UserRow::new(&email, hasher.hash_blocking(&password)?, role);
    let pool = db::connect(&settings.database_url, 1).map_err(|e| e.to_string())?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let created = db::write_txn(&mut conn, |c| -> Result<(), diesel::result::Error> {
        db::users::insert_user(c, &row)?;
        db::audit::insert_event(c, "cli", "user.created", &row.id, serde_json::json!({"role": role.as_str()}))
    });
    match created.map_err(db::DbError::from) {
        Err(e) if e.is_unique_violation() => {
            Err(format!("an account with the email {} already exists", email.as_str()))
        }
        Err(e) => Err(e.to_string()),
        Ok(()) => {
            out!("created {} {} with id {}", role.as_str(), row.email, row.id);
            Ok(())
        }
    }
}

fn verify_token(
    settings: &Settings,
    jwt: &str,
    jwks: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
) -> Result<(), String> {
    let default_issuer = settings.issuer.clone().unwrap_or_else(|| format!("http://{}", settings.bind));
    let issuer = issuer.unwrap_or(default_issuer);
    let audience = audience.or_else(|| settings.audience.clone()).unwrap_or_else(|| issuer.clone());
    let url = jwks.unwrap_or_else(|| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
    let set = fetch_jwks(&url)?;
    let verifier = Verifier::new(&issuer, &audience, settings.access_token_typ);
    let jwt = jwt.trim();
    verifier.verify(&set, jwt).map_err(|reason| format!("the token is not valid: {reason}"))?;
    // Verified: show the header and every claim as sent.
    let part = |i: usize| -> serde_json::Value {
        let bytes = jwt.split('.').nth(i).and_then(|p| B64.decode(p).ok()).unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    };
    let out = serde_json::json!({"valid": true, "header": part(0), "claims": part(1)});
    out!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

/// Fetches a JWKS and keeps the keys tessera can verify with.
fn fetch_jwks(url: &str) -> Result<KeySet, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent.get(url).call().map_err(|e| format!("cannot fetch the JWKS from {url}: {e}"))?;
    if res.status() != 200 {
        return Err(format!("the JWKS at {url} answered HTTP {}", res.status()));
    }
    let doc: serde_json::Value = res
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_json()
        .map_err(|e| format!("the JWKS at {url} is not JSON: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| format!("the document at {url} has no \"keys\" array"))?;
    let mut loaded = Vec::new();
    for key in keys {
        let kid = key.get("kid").and_then(|k| k.as_str());
        match (kid, PublicJwk::from_json(key)) {
            (Some(kid), Ok(jwk)) if key.get("alg").and_then(|a| a.as_str()).is_none_or(|a| a == jwk.alg().as_str()) => {
                loaded.push(LoadedKey {
                    kid: kid.to_owned(),
                    state: KeyState::Active,
                    jwk,
                    signer: None,
                    created_at: 0,
                    activated_at: None,
                    expires_at: None,
                });
            }
            (kid, result) => log::warn!(
                "skipping JWKS key {kid:?}: {}",
                result.err().unwrap_or_else(|| "alg does not match the key type".into())
            ),
        }
    }
    Ok(KeySet::build(loaded, String::new()))
}
