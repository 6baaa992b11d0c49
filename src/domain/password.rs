//! Passwords: NFKC-normalised, 12 (or the configured minimum) to 1024
//! characters, any Unicode, never truncated, not on the common-password list.

use std::collections::HashSet;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

pub const MAX_CHARS: usize = 1024;

/// The bundled list (see common_passwords.md), lower case, one per line.
static COMMON_LIST: &str = include_str!("common_passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_LIST.lines().collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {0} characters")]
    TooShort(usize),
    #[error("password must be at most 1024 characters")]
    TooLong,
    #[error("password is on the list of commonly used passwords")]
    Common,
}

/// A password in NFKC form. Wiped on drop; `Debug` prints nothing of it.
pub struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// A new password (signup, password change): every rule applies.
    pub fn parse(raw: &str, min_chars: usize) -> Result<Self, PasswordError> {
        // Refuse absurd input before normalising it (NFKC can expand text).
        if raw.chars().count() > MAX_CHARS * 4 {
            return Err(PasswordError::TooLong);
        }
        let password = Self::normalize(raw);
        let chars = password.0.chars().count();
        if chars < min_chars {
            return Err(PasswordError::TooShort(min_chars));
        }
        if chars > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        if common_passwords().contains(password.0.to_lowercase().as_str()) {
            return Err(PasswordError::Common);
        }
        Ok(password)
    }

    /// A password offered at login: normalised the same way, no rules, so an
    /// old password stays usable if the rules are tightened.
    pub fn normalize(raw: &str) -> Self {
        Self(Zeroizing::new(raw.nfkc().collect()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_big_enough_and_clean() {
        assert!(common_passwords().len() >= 10_000);
        assert!(COMMON_LIST.lines().all(|l| !l.is_empty() && l == l.to_lowercase()));
    }

    #[test]
    fn length_counts_characters_after_nfkc() {
        assert_eq!(Password::parse("short", 12).unwrap_err(), PasswordError::TooShort(12));
        // Twelve full-width letters are twelve characters, and NFKC turns them into ASCII.
        let p = Password::parse("ｔｅｓｓｅｒａｓｔｏｎｅｓ", 12).unwrap();
        assert_eq!(p.as_bytes(), b"tesserastones");
        assert!(Password::parse("correct horse battery", 12).is_ok());
        assert_eq!(Password::parse("correct horse battery", 30).unwrap_err(), PasswordError::TooShort(30));
        assert!(Password::parse(&"é".repeat(1024), 12).is_ok());
        assert_eq!(Password::parse(&"é".repeat(1025), 12).unwrap_err(), PasswordError::TooLong);
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        let common = COMMON_LIST.lines().find(|l| l.chars().count() >= 12).unwrap();
        assert_eq!(Password::parse(common, 12).unwrap_err(), PasswordError::Common);
        assert_eq!(Password::parse(&common.to_uppercase(), 12).unwrap_err(), PasswordError::Common);
    }
}
