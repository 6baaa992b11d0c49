//! Settings from `TESSERA_*` environment variables (SPEC §1).
//!
//! Every parse error names the variable and the accepted form, so a bad value
//! stops the start with a message an operator can act on. Nothing here touches
//! the database or the file system; `startup` does that.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;

use crate::keys::Alg;

/// A setting that could not be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { var, message: message.into() }
}

/// Where the data lives. A PostgreSQL URL never becomes a SQLite file.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        const FORMS: &str = "expected sqlite://PATH or postgres://USER@HOST/DB";
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .ok_or_else(|| format!("unsupported scheme in {raw:?}; {FORMS}"))?;
        if path.is_empty() {
            return Err(format!("no file path in {raw:?}; {FORMS}"));
        }
        if path.contains('?') {
            return Err(format!("{raw:?}: sqlite:// URLs take a file path only, no query parameters"));
        }
        if path.contains(":memory:") || path.contains("mode=memory") {
            return Err("an in-memory SQLite database would be a different database for every pooled \
                 connection; use a file path"
                .into());
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

impl fmt::Display for DatabaseUrl {
    /// Shows the URL with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&mask_url_password(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut masked = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    // libpq also accepts `password=` as a query parameter.
    if let Some(pos) = masked.find("password=") {
        let end = masked[pos..].find('&').map_or(masked.len(), |e| pos + e);
        masked.replace_range(pos + "password=".len()..end, "***");
    }
    masked
}

/// The `typ` header of access tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenTyp {
    Jwt,
    AtJwt,
}

impl TokenTyp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "JWT",
            Self::AtJwt => "at+jwt",
        }
    }
}

/// The 32-byte key that encrypts private keys at rest. `Debug` hides it.
#[derive(Clone)]
pub struct MasterKeyBytes(pub [u8; 32]);

impl fmt::Debug for MasterKeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKeyBytes(***)")
    }
}

/// Where the master key comes from.
#[derive(Clone, Debug)]
pub enum MasterKeySource {
    /// `TESSERA_MASTER_KEY`, already decoded.
    Inline(MasterKeyBytes),
    /// `TESSERA_MASTER_KEY_FILE`, created on first start when absent.
    File(PathBuf),
}

/// A password from the environment; `Debug` hides it.
#[derive(Clone)]
pub struct SecretString(pub String);

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    pub database_url: DatabaseUrl,
    /// `None`: `http://` + the bound address, known once the socket is bound.
    pub issuer: Option<String>,
    /// `None`: the issuer.
    pub audience: Option<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub algs: Vec<Alg>,
    pub signing_alg: Alg,
    pub access_token_typ: TokenTyp,
    pub rsa_bits: usize,
    pub password_min: usize,
    /// `None`: automatic rotation is off.
    pub rotation_interval: Option<Duration>,
    pub prepublish: Duration,
    pub jwks_max_age: Duration,
    pub refresh_grace: Duration,
    pub master_key: MasterKeySource,
    pub bootstrap_admin: Option<(String, SecretString)>,
    pub argon2: Argon2Settings,
    pub db_pool_size: u32,
    /// HTTP worker threads; `None`: one per core.
    pub workers: Option<usize>,
}

/// Every variable tessera reads, for `tessera config` and the unknown-variable warning.
pub const KNOWN_VARS: &[&str] = &[
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
    "TESSERA_ARGON2_MEMORY_KIB",
    "TESSERA_ARGON2_ITERATIONS",
    "TESSERA_ARGON2_PARALLELISM",
    "TESSERA_DB_POOL_SIZE",
    "TESSERA_WORKERS",
    "TESSERA_LOG",
];

impl Settings {
    /// The built-in defaults, as if no variable were set.
    pub fn defaults() -> Self {
        match Self::from_lookup(|_| None) {
            Ok(settings) => settings,
            // The defaults are constants checked by `defaults_parse` below.
            Err(e) => unreachable!("built-in defaults are invalid: {e}"),
        }
    }

    /// Reads `tessera.toml` in the working directory (or the file named by
    /// `TESSERA_CONFIG`), then the process environment, which wins. A
    /// variable that is not UTF-8 is an error.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars = BTreeMap::new();
        let explicit = std::env::var_os("TESSERA_CONFIG").map(PathBuf::from);
        let file = explicit.clone().unwrap_or_else(|| PathBuf::from("tessera.toml"));
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                vars.extend(parse_toml(&text).map_err(|m| err("TESSERA_CONFIG", format!("{}: {m}", file.display())))?)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {}
            Err(e) => return Err(err("TESSERA_CONFIG", format!("cannot read {}: {e}", file.display()))),
        }
        for (key, value) in std::env::vars_os() {
            let Some(key) = key.to_str().filter(|k| k.starts_with("TESSERA_") && *k != "TESSERA_CONFIG") else {
                continue;
            };
            let var = KNOWN_VARS.iter().find(|known| **known == key);
            let Some(var) = var else {
                log::warn!("ignoring unknown variable {key}");
                continue;
            };
            let value = value.into_string().map_err(|_| err(var, "value is not valid UTF-8"))?;
            // An empty variable counts as unset (as in `VAR= cmd`), so tessera.toml still applies.
            if !value.trim().is_empty() {
                vars.insert(*var, value);
            }
        }
        Self::from_lookup(|name| vars.get(name).cloned())
    }

    /// Parses settings from any source of variables (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // An empty value counts as unset, as in most shells' `VAR= cmd`.
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let bind = match get("TESSERA_BIND") {
            Some(v) => v.trim().parse().map_err(|_| {
                err("TESSERA_BIND", format!("{v:?} is not HOST:PORT with an IP address, e.g. 127.0.0.1:8080"))
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let database_url =
            DatabaseUrl::parse(get("TESSERA_DATABASE_URL").as_deref().unwrap_or("sqlite://data/tessera.db").trim())
                .map_err(|m| err("TESSERA_DATABASE_URL", m))?;
        let issuer = get("TESSERA_ISSUER").map(|v| parse_url("TESSERA_ISSUER", &v)).transpose()?;
        let audience = get("TESSERA_AUDIENCE").map(|v| v.trim().to_owned());

        let duration = |var: &'static str, default: &str, allow_zero: bool| {
            let raw = get(var).unwrap_or_else(|| default.to_owned());
            let d = parse_duration(&raw).map_err(|m| err(var, m))?;
            if d.is_zero() && !allow_zero {
                return Err(err(var, "must be longer than 0"));
            }
            Ok(d)
        };
        let access_ttl = duration("TESSERA_ACCESS_TTL", "15m", false)?;
        let refresh_ttl = duration("TESSERA_REFRESH_TTL", "30d", false)?;
        let rotation = duration("TESSERA_ROTATION_INTERVAL", "30d", true)?;
        let prepublish = duration("TESSERA_PREPUBLISH", "2h", true)?;
        let jwks_max_age = duration("TESSERA_JWKS_MAX_AGE", "5m", true)?;
        let refresh_grace = duration("TESSERA_REFRESH_GRACE", "10s", true)?;
        if jwks_max_age >= prepublish {
            return Err(err(
                "TESSERA_JWKS_MAX_AGE",
                format!(
                    "must be below TESSERA_PREPUBLISH ({}s), or verifiers could cache a JWKS \
                     that lacks the next signing key",
                    prepublish.as_secs()
                ),
            ));
        }

        let algs = parse_algs(get("TESSERA_ALGS").as_deref().unwrap_or("RS256,EdDSA"))?;
        let signing_alg = match get("TESSERA_SIGNING_ALG") {
            Some(v) => Alg::parse(v.trim())
                .ok_or_else(|| err("TESSERA_SIGNING_ALG", format!("{v:?} is not RS256 or EdDSA")))?,
            None => Alg::Rs256,
        };
        if !algs.contains(&signing_alg) {
            return Err(err(
                "TESSERA_SIGNING_ALG",
                format!("{} is not one of TESSERA_ALGS ({})", signing_alg.as_str(), join_algs(&algs)),
            ));
        }
        let access_token_typ = match get("TESSERA_ACCESS_TOKEN_TYP").map(|v| v.trim().to_ascii_lowercase()) {
            None => TokenTyp::Jwt,
            Some(v) if v == "jwt" => TokenTyp::Jwt,
            Some(v) if v == "at+jwt" => TokenTyp::AtJwt,
            Some(v) => return Err(err("TESSERA_ACCESS_TOKEN_TYP", format!("{v:?} is not JWT or at+jwt"))),
        };
        let rsa_bits = parse_number(&get, "TESSERA_RSA_BITS", 2048, "2048, 3072 or 4096")?;
        if ![2048, 3072, 4096].contains(&rsa_bits) {
            return Err(err("TESSERA_RSA_BITS", format!("{rsa_bits} is not 2048, 3072 or 4096")));
        }
        let password_min = parse_number(&get, "TESSERA_PASSWORD_MIN", 12, "a number from 12 to 1024")?;
        if !(12..=1024).contains(&password_min) {
            return Err(err(
                "TESSERA_PASSWORD_MIN",
                format!("{password_min} is not from 12 to 1024 (it may only be raised)"),
            ));
        }
        let master_key = match get("TESSERA_MASTER_KEY") {
            Some(v) => MasterKeySource::Inline(parse_master_key(&v).map_err(|m| err("TESSERA_MASTER_KEY", m))?),
            None => MasterKeySource::File(PathBuf::from(
                get("TESSERA_MASTER_KEY_FILE").unwrap_or_else(|| "keys/master.key".into()),
            )),
        };
        let bootstrap_admin = match (get("TESSERA_BOOTSTRAP_ADMIN_EMAIL"), get("TESSERA_BOOTSTRAP_ADMIN_PASSWORD")) {
            (Some(email), Some(password)) => Some((email, SecretString(password))),
            (None, None) => None,
            (Some(_), None) => {
                return Err(err(
                    "TESSERA_BOOTSTRAP_ADMIN_PASSWORD",
                    "must be set together with TESSERA_BOOTSTRAP_ADMIN_EMAIL",
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    "TESSERA_BOOTSTRAP_ADMIN_EMAIL",
                    "must be set together with TESSERA_BOOTSTRAP_ADMIN_PASSWORD",
                ));
            }
        };
        let argon2 = Argon2Settings {
            memory_kib: parse_number(
                &get,
                "TESSERA_ARGON2_MEMORY_KIB",
                19456,
                "a number of KiB from 19456 to 4194304",
            )?,
            iterations: parse_number(&get, "TESSERA_ARGON2_ITERATIONS", 2, "a number from 2 to 100")?,
            parallelism: parse_number(&get, "TESSERA_ARGON2_PARALLELISM", 1, "a number from 1 to 16")?,
        };
        if !(19456..=4_194_304).contains(&argon2.memory_kib) {
            return Err(err("TESSERA_ARGON2_MEMORY_KIB", "must be from 19456 (the OWASP minimum) to 4194304"));
        }
        if !(2..=100).contains(&argon2.iterations) {
            return Err(err("TESSERA_ARGON2_ITERATIONS", "must be from 2 to 100"));
        }
        if !(1..=16).contains(&argon2.parallelism) {
            return Err(err("TESSERA_ARGON2_PARALLELISM", "must be from 1 to 16"));
        }
        let db_pool_size = parse_number(&get, "TESSERA_DB_POOL_SIZE", 10, "a number from 1 to 200")?;
        if !(1..=200).contains(&db_pool_size) {
            return Err(err("TESSERA_DB_POOL_SIZE", "must be from 1 to 200"));
        }
        let workers = get("TESSERA_WORKERS")
            .map(|v| match v.trim().parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => Ok(n),
                _ => Err(err("TESSERA_WORKERS", format!("{v:?} is not a number from 1 to 1024"))),
            })
            .transpose()?;

        Ok(Self {
            bind,
            database_url,
            issuer,
            audience,
            access_ttl,
            refresh_ttl,
            algs,
            signing_alg,
            access_token_typ,
            rsa_bits,
            password_min,
            rotation_interval: (!rotation.is_zero()).then_some(rotation),
            prepublish,
            jwks_max_age,
            refresh_grace,
            master_key,
            bootstrap_admin,
            argon2,
            db_pool_size,
            workers,
        })
    }

    /// The effective configuration as `NAME=value` lines, secrets masked.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let secs = |d: Duration| format_duration(d);
        vec![
            ("TESSERA_BIND", self.bind.to_string()),
            ("TESSERA_DATABASE_URL", self.database_url.to_string()),
            ("TESSERA_ISSUER", self.issuer.clone().unwrap_or_else(|| format!("http://{}", self.bind))),
            (
                "TESSERA_AUDIENCE",
                self.audience
                    .clone()
                    .or_else(|| self.issuer.clone())
                    .unwrap_or_else(|| format!("http://{}", self.bind)),
            ),
            ("TESSERA_ACCESS_TTL", secs(self.access_ttl)),
            ("TESSERA_REFRESH_TTL", secs(self.refresh_ttl)),
            ("TESSERA_ALGS", join_algs(&self.algs)),
            ("TESSERA_SIGNING_ALG", self.signing_alg.as_str().into()),
            ("TESSERA_ACCESS_TOKEN_TYP", self.access_token_typ.as_str().into()),
            ("TESSERA_RSA_BITS", self.rsa_bits.to_string()),
            ("TESSERA_PASSWORD_MIN", self.password_min.to_string()),
            ("TESSERA_ROTATION_INTERVAL", self.rotation_interval.map_or_else(|| "0".into(), secs)),
            ("TESSERA_PREPUBLISH", secs(self.prepublish)),
            ("TESSERA_JWKS_MAX_AGE", secs(self.jwks_max_age)),
            ("TESSERA_REFRESH_GRACE", secs(self.refresh_grace)),
            (
                "TESSERA_MASTER_KEY",
                matches!(self.master_key, MasterKeySource::Inline(_)).then(|| "*** (set)".into()).unwrap_or_default(),
            ),
            match &self.master_key {
                MasterKeySource::Inline(_) => {
                    ("TESSERA_MASTER_KEY_FILE", "(not used: TESSERA_MASTER_KEY is set)".into())
                }
                MasterKeySource::File(path) => ("TESSERA_MASTER_KEY_FILE", path.display().to_string()),
            },
            (
                "TESSERA_BOOTSTRAP_ADMIN_EMAIL",
                self.bootstrap_admin.as_ref().map_or_else(String::new, |(e, _)| e.clone()),
            ),
            (
                "TESSERA_BOOTSTRAP_ADMIN_PASSWORD",
                if self.bootstrap_admin.is_some() { "*** (set)".into() } else { String::new() },
            ),
            ("TESSERA_ARGON2_MEMORY_KIB", self.argon2.memory_kib.to_string()),
            ("TESSERA_ARGON2_ITERATIONS", self.argon2.iterations.to_string()),
            ("TESSERA_ARGON2_PARALLELISM", self.argon2.parallelism.to_string()),
            ("TESSERA_DB_POOL_SIZE", self.db_pool_size.to_string()),
            ("TESSERA_WORKERS", self.workers.map_or_else(|| "one per core".into(), |w| w.to_string())),
        ]
    }
}

/// `tessera.toml`: one key per variable, lower case without the prefix
/// (`access_ttl = "15m"`, `rsa_bits = 3072`), strings, integers or booleans.
fn parse_toml(text: &str) -> Result<BTreeMap<&'static str, String>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut vars = BTreeMap::new();
    for (key, value) in table {
        let name = format!("TESSERA_{}", key.to_ascii_uppercase());
        let var = KNOWN_VARS
            .iter()
            .find(|known| **known == name && **known != "TESSERA_LOG")
            .ok_or_else(|| format!("unknown setting {key:?}"))?;
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => return Err(format!("{key}: expected a string or a number, not {}", other.type_str())),
        };
        vars.insert(*var, value);
    }
    Ok(vars)
}

fn parse_number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    form: &str,
) -> Result<T, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| err(var, format!("{v:?} is not {form}"))),
    }
}

fn parse_url(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    let v = raw.trim();
    let ok_scheme = v.starts_with("https://") || v.starts_with("http://");
    let host = v.split_once("://").map_or("", |(_, rest)| rest);
    if !ok_scheme || host.is_empty() || host.starts_with('/') || v.contains(['?', '#', ' ']) {
        return Err(err(
            var,
            format!("{raw:?} is not an http(s) URL without query or fragment, e.g. https://auth.example.com"),
        ));
    }
    Ok(v.to_owned())
}

fn parse_algs(raw: &str) -> Result<Vec<Alg>, ConfigError> {
    let mut algs = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let alg = Alg::parse(part)
            .ok_or_else(|| err("TESSERA_ALGS", format!("{part:?} is not RS256 or EdDSA (comma-separated list)")))?;
        if !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    if algs.is_empty() {
        return Err(err("TESSERA_ALGS", "needs at least one of RS256, EdDSA"));
    }
    Ok(algs)
}

fn join_algs(algs: &[Alg]) -> String {
    algs.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(",")
}

/// `90s`, `15m`, `1h`, `30d`; `0` alone means zero.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let v = raw.trim();
    if v == "0" {
        return Ok(Duration::ZERO);
    }
    let form = "expected a whole number followed by s, m, h or d (90s, 15m, 1h, 30d)";
    let split = v.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| format!("{raw:?}: {form}"))?;
    let (digits, unit) = v.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("{raw:?}: {form}"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{raw:?}: {form}")),
    };
    let secs = n
        .checked_mul(scale)
        .filter(|s| *s <= 10 * 365 * 86_400)
        .ok_or_else(|| format!("{raw:?} is longer than ten years"))?;
    Ok(Duration::from_secs(secs))
}

/// The shortest exact form of a duration: `15m` rather than `900s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Base64 (standard or URL-safe, padding optional) of exactly 32 bytes.
pub fn parse_master_key(raw: &str) -> Result<MasterKeyBytes, String> {
    let v = raw.trim().trim_end_matches('=');
    let engine = if v.contains(['-', '_']) {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        base64::engine::general_purpose::STANDARD_NO_PAD
    };
    let bytes = engine.decode(v).map_err(|_| {
        "is not base64 (expected base64 of 32 random bytes, e.g. from `head -c32 /dev/urandom | base64`)".to_owned()
    })?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("decodes to {} bytes; expected base64 of exactly 32 bytes", b.len()))?;
    Ok(MasterKeyBytes(arr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_parse() {
        let s = with(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, DatabaseUrl::Sqlite("data/tessera.db".into()));
        assert_eq!(s.access_ttl, Duration::from_secs(900));
        assert_eq!(s.algs, vec![Alg::Rs256, Alg::EdDsa]);
        assert_eq!(s.signing_alg, Alg::Rs256);
        assert_eq!(s.rotation_interval, Some(Duration::from_secs(30 * 86_400)));
    }

    #[test]
    fn every_error_names_its_variable() {
        let cases = [
            ("TESSERA_BIND", "localhost"),
            ("TESSERA_DATABASE_URL", "mysql://x"),
            ("TESSERA_ISSUER", "auth.example.com"),
            ("TESSERA_ACCESS_TTL", "15 minutes"),
            ("TESSERA_ACCESS_TTL", "0"),
            ("TESSERA_ALGS", "HS256"),
            ("TESSERA_SIGNING_ALG", "ES256"),
            ("TESSERA_ACCESS_TOKEN_TYP", "jwt+at"),
            ("TESSERA_RSA_BITS", "1024"),
            ("TESSERA_PASSWORD_MIN", "8"),
            ("TESSERA_MASTER_KEY", "c2hvcnQ="),
            ("TESSERA_JWKS_MAX_AGE", "3h"),
            ("TESSERA_ARGON2_MEMORY_KIB", "1024"),
        ];
        for (var, value) in cases {
            let e = with(&[(var, value)]).expect_err(var);
            assert_eq!(e.var, var, "{value}");
            assert!(e.to_string().starts_with(var));
        }
    }

    #[test]
    fn signing_alg_must_have_keys() {
        let e = with(&[("TESSERA_ALGS", "EdDSA")]).unwrap_err();
        assert_eq!(e.var, "TESSERA_SIGNING_ALG");
        let s = with(&[("TESSERA_ALGS", "eddsa"), ("TESSERA_SIGNING_ALG", "EdDSA")]).unwrap();
        assert_eq!(s.algs, vec![Alg::EdDsa]);
    }

    #[test]
    fn durations_round_trip() {
        for (raw, secs) in [("90s", 90), ("15m", 900), ("1h", 3600), ("30d", 2_592_000), ("0", 0)] {
            assert_eq!(parse_duration(raw).unwrap().as_secs(), secs);
        }
        for bad in ["", "15", "m", "1.5h", "-1s", "1w", "99999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn postgres_urls_never_become_sqlite_files() {
        assert!(DatabaseUrl::parse("postgres://u@h/db").unwrap().is_postgres());
        assert!(DatabaseUrl::parse("postgresql://u@h/db").unwrap().is_postgres());
        assert!(DatabaseUrl::parse("pg://u@h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
    }

    #[test]
    fn database_passwords_are_masked() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/t?sslmode=require").unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/t?sslmode=require");
        let url = DatabaseUrl::parse("postgres://db/t?user=a&password=s3cret&x=1").unwrap();
        assert_eq!(url.to_string(), "postgres://db/t?user=a&password=***&x=1");
    }

    #[test]
    fn toml_keys_are_the_variables_without_prefix() {
        let vars = parse_toml("bind = \"0.0.0.0:9000\"\nrsa_bits = 3072\n").unwrap();
        assert_eq!(vars["TESSERA_BIND"], "0.0.0.0:9000");
        assert_eq!(vars["TESSERA_RSA_BITS"], "3072");
        assert!(parse_toml("bnid = \"x\"").unwrap_err().contains("bnid"));
        assert!(parse_toml("algs = [\"RS256\"]").is_err());
        assert!(parse_toml("not toml").is_err());
    }

    #[test]
    fn master_key_accepts_both_base64_alphabets() {
        let key = [0xfbu8; 32];
        let std = base64::engine::general_purpose::STANDARD.encode(key);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
        assert_eq!(parse_master_key(&std).unwrap().0, key);
        assert_eq!(parse_master_key(&url).unwrap().0, key);
        assert!(parse_master_key("not base64!").is_err());
    }
}
