//! Public keys as JWKs (RFC 7517/7518/8037) and their RFC 7638 thumbprints.
//!
//! Only public members exist here: `n`/`e` or `crv`/`x`. A JWK from elsewhere
//! (the CLI's `--jwks`) is checked before anything uses it: jsonwebtoken panics
//! on an Ed25519 `x` that is not 32 bytes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use super::Alg;

/// The public half of a signing key.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicJwk {
    /// Big-endian modulus and exponent, without leading zero bytes.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ed25519 {
        x: [u8; 32],
    },
}

impl std::fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.members().to_string())
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    bytes[first..].to_vec()
}

impl PublicJwk {
    pub fn rsa(n: &[u8], e: &[u8]) -> Self {
        Self::Rsa { n: strip_leading_zeros(n), e: strip_leading_zeros(e) }
    }

    /// The algorithm this key type signs with.
    pub fn alg(&self) -> Alg {
        match self {
            Self::Rsa { .. } => Alg::Rs256,
            Self::Ed25519 { .. } => Alg::EdDsa,
        }
    }

    /// The required members only, in the lexicographic order RFC 7638 §3.2 asks for.
    /// This string is also what the database stores.
    pub fn members(&self) -> Value {
        match self {
            Self::Rsa { n, e } => json!({"e": B64.encode(e), "kty": "RSA", "n": B64.encode(n)}),
            Self::Ed25519 { x } => json!({"crv": "Ed25519", "kty": "OKP", "x": B64.encode(x)}),
        }
    }

    /// RFC 7638 thumbprint: base64url(SHA-256(canonical members)).
    /// serde_json's map keeps keys sorted and writes no whitespace, which is the canonical form.
    pub fn thumbprint(&self) -> String {
        let canonical = self.members().to_string();
        B64.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
    }

    /// The JWK as published: members plus `kid`, `use` and `alg`.
    pub fn to_published(&self, kid: &str) -> Value {
        let mut v = self.members();
        if let Value::Object(map) = &mut v {
            map.insert("kid".into(), kid.into());
            map.insert("use".into(), "sig".into());
            map.insert("alg".into(), self.alg().as_str().into());
        }
        v
    }

    /// Parses a JWK object, checking every member we rely on. Private members
    /// (`d`, …) are ignored, never read.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let text =
            |name: &str| v.get(name).and_then(Value::as_str).ok_or_else(|| format!("missing or non-string \"{name}\""));
        let bytes = |name: &str| -> Result<Vec<u8>, String> {
            B64.decode(text(name)?).map_err(|_| format!("\"{name}\" is not base64url without padding"))
        };
        match text("kty")? {
            "RSA" => {
                let (n, e) = (bytes("n")?, bytes("e")?);
                if n.len() < 256 || n.len() > 1024 || e.is_empty() || e.len() > 8 {
                    return Err("RSA key size out of range (2048 to 8192 bits)".into());
                }
                Ok(Self::rsa(&n, &e))
            }
            "OKP" => {
                if text("crv")? != "Ed25519" {
                    return Err("only the Ed25519 curve is supported".into());
                }
                let x = bytes("x")?;
                let x: [u8; 32] = x.try_into().map_err(|_| "Ed25519 \"x\" must be 32 bytes".to_owned())?;
                Ok(Self::Ed25519 { x })
            }
            other => Err(format!("unsupported key type {other:?}")),
        }
    }

    /// A jsonwebtoken key that verifies this key's signatures.
    pub fn decoding_key(&self) -> jsonwebtoken::DecodingKey {
        match self {
            Self::Rsa { n, e } => jsonwebtoken::DecodingKey::from_rsa_raw_components(n, e),
            Self::Ed25519 { x } => jsonwebtoken::DecodingKey::from_ed_der(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // The RSA key of RFC 7638 §3.1, whose thumbprint the RFC gives.
        let n = B64.decode("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw").unwrap();
        let jwk = PublicJwk::rsa(&n, &[1, 0, 1]);
        assert_eq!(jwk.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn rfc8037_example_thumbprint() {
        // RFC 8037 appendix A.3.
        let x: [u8; 32] = B64.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap().try_into().unwrap();
        assert_eq!(PublicJwk::Ed25519 { x }.thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn modulus_has_no_leading_zero_byte() {
        let jwk = PublicJwk::rsa(&[0, 0, 0xc3, 0x01], &[0, 1, 0, 1]);
        assert_eq!(jwk, PublicJwk::Rsa { n: vec![0xc3, 1], e: vec![1, 0, 1] });
    }

    #[test]
    fn foreign_jwks_are_checked() {
        assert!(PublicJwk::from_json(&json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})).is_err());
        assert!(PublicJwk::from_json(&json!({"kty": "oct", "k": "AAAA"})).is_err());
        assert!(PublicJwk::from_json(&json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"})).is_err());
        let x = B64.encode([7u8; 32]);
        let ok = PublicJwk::from_json(&json!({"kty": "OKP", "crv": "Ed25519", "x": x})).unwrap();
        assert_eq!(ok.to_published("k")["alg"], "EdDSA");
    }
}
