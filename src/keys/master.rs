//! The master key and encryption of private keys at rest: AES-256-GCM (ring),
//! a random 96-bit nonce per encryption, the `kid` bound as associated data so
//! a ciphertext moved to another key's row does not decrypt.
//!
//! Stored form: `0x01 || nonce (12) || ciphertext || tag (16)`.

use std::fs;
use std::io::Write;
use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::config::{MasterKeySource, parse_master_key};

const VERSION: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("master key file {path}: {message}")]
    File { path: String, message: String },
    #[error(
        "the master key does not decrypt signing key {kid}: this is not the master key this \
         database was created with (check TESSERA_MASTER_KEY / TESSERA_MASTER_KEY_FILE)"
    )]
    WrongKey { kid: String },
    #[error("could not encrypt: {0}")]
    Encrypt(String),
}

/// The key that encrypts private keys at rest, and from which the other
/// server secrets are derived (HKDF-SHA256, one `info` label each). `Debug` hides it.
pub struct MasterKey {
    key: LessSafeKey,
    refresh_successor: ring::hmac::Key,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        // AES-256 takes any 32 bytes, so this cannot fail.
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).expect("32 bytes is an AES-256 key");
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"tessera").extract(bytes);
        // One 32-byte output for HMAC-SHA256 is far below HKDF's limit, so this cannot fail.
        let okm = prk.expand(&[b"refresh-token successor v1"], ring::hmac::HMAC_SHA256).expect("HKDF expand");
        Self { key: LessSafeKey::new(unbound), refresh_successor: ring::hmac::Key::from(okm) }
    }

    /// The key under which a used refresh token derives its successor.
    pub fn refresh_successor_key(&self) -> &ring::hmac::Key {
        &self.refresh_successor
    }

    /// Reads the master key. With `create`, a missing key file is created
    /// (32 random bytes, mode 0600, its folder too); otherwise it is an error.
    pub fn load(source: &MasterKeySource, create: bool) -> Result<Self, MasterKeyError> {
        match source {
            MasterKeySource::Inline(bytes) => Ok(Self::from_bytes(&bytes.0)),
            MasterKeySource::File(path) => {
                let file_err = |message: String| MasterKeyError::File { path: path.display().to_string(), message };
                match fs::read(path) {
                    Ok(content) => Ok(Self::from_bytes(&parse_file(&content).map_err(file_err)?)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                        create_file(path).map_err(|e| file_err(format!("could not create: {e}")))?;
                        log::info!("created a new master key at {}", path.display());
                        let content = fs::read(path).map_err(|e| file_err(e.to_string()))?;
                        Ok(Self::from_bytes(&parse_file(&content).map_err(file_err)?))
                    }
                    Err(e) => Err(file_err(e.to_string())),
                }
            }
        }
    }

    pub fn encrypt(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| MasterKeyError::Encrypt("no randomness".into()))?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| MasterKeyError::Encrypt("AES-GCM seal failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn decrypt(&self, kid: &str, stored: &[u8]) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        let wrong = || MasterKeyError::WrongKey { kid: kid.to_owned() };
        if stored.len() < 1 + NONCE_LEN + 16 || stored[0] != VERSION {
            return Err(wrong());
        }
        let nonce = Nonce::try_assume_unique_for_key(&stored[1..1 + NONCE_LEN]).map_err(|_| wrong())?;
        let mut buf = Zeroizing::new(stored[1 + NONCE_LEN..].to_vec());
        let len = self.key.open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf).map_err(|_| wrong())?.len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// A key file holds 32 raw bytes, or base64 of them (so `openssl rand -base64 32` works).
fn parse_file(content: &[u8]) -> Result<[u8; 32], String> {
    if let Ok(raw) = <[u8; 32]>::try_from(content) {
        return Ok(raw);
    }
    let text = std::str::from_utf8(content)
        .map_err(|_| format!("holds {} bytes; expected 32 raw bytes or base64 of them", content.len()))?;
    parse_master_key(text)
        .map(|k| k.0)
        .map_err(|m| format!("holds {} bytes that are not 32 raw bytes, and as base64 it {m}", content.len()))
}

fn create_file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    SystemRandom::new().fill(&mut bytes[..]).map_err(|_| std::io::Error::other("no randomness"))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(&bytes[..])?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphertext_is_bound_to_the_kid_and_the_key() {
        let key = MasterKey::from_bytes(&[1; 32]);
        let sealed = key.encrypt("kid-a", b"secret pkcs8").unwrap();
        assert_eq!(&key.decrypt("kid-a", &sealed).unwrap()[..], b"secret pkcs8");
        assert!(key.decrypt("kid-b", &sealed).is_err());
        assert!(MasterKey::from_bytes(&[2; 32]).decrypt("kid-a", &sealed).is_err());
        assert!(key.decrypt("kid-a", &sealed[..10]).is_err());
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/master.key");
        let source = MasterKeySource::File(path.clone());
        assert!(MasterKey::load(&source, false).is_err());
        let a = MasterKey::load(&source, true).unwrap().encrypt("k", b"x").unwrap();
        let b = MasterKey::load(&source, true).unwrap();
        assert_eq!(&b.decrypt("k", &a).unwrap()[..], b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn key_file_may_hold_base64() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        fs::write(&path, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n").unwrap();
        let sealed = MasterKey::from_bytes(&[1; 32]).encrypt("k", b"x").unwrap();
        let loaded = MasterKey::load(&MasterKeySource::File(path.clone()), false).unwrap();
        assert_eq!(&loaded.decrypt("k", &sealed).unwrap()[..], b"x");
        fs::write(&path, "short").unwrap();
        assert!(MasterKey::load(&MasterKeySource::File(path), false).is_err());
    }
}
