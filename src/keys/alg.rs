//! The algorithms tessera signs with and the states a key goes through.

use std::fmt;

/// A JWS algorithm tessera issues. Anything else (`none`, `HS256`, …) is never accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    Rs256,
    EdDsa,
}

impl Alg {
    pub const ALL: [Alg; 2] = [Alg::Rs256, Alg::EdDsa];

    /// The JOSE name: `RS256` or `EdDSA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// Accepts the JOSE names in any letter case (configuration and CLI input).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// Exactly the JOSE name, as it must appear in a token header.
    pub fn from_header(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a key is in its life (SPEC §3). Stored as the lower-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signs; exactly one per algorithm.
    Active,
    /// Published until `retired_at` + access TTL + 60 s; verifies, never signs.
    Retired,
    /// Unpublished, private half erased.
    Expired,
    /// Unpublished at once; its tokens are rejected.
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Next, Self::Active, Self::Retired, Self::Expired, Self::Revoked].into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a key in this state appears in the JWKS and verifies tokens.
    pub fn is_published(self) -> bool {
        matches!(self, Self::Next | Self::Active | Self::Retired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_exact() {
        assert_eq!(Alg::from_header("RS256"), Some(Alg::Rs256));
        assert_eq!(Alg::from_header("rs256"), None);
        assert_eq!(Alg::from_header("none"), None);
        assert_eq!(Alg::parse("eddsa"), Some(Alg::EdDsa));
    }

    #[test]
    fn states_round_trip() {
        for s in ["next", "active", "retired", "expired", "revoked"] {
            assert_eq!(KeyState::parse(s).unwrap().as_str(), s);
        }
    }
}
