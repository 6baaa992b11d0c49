//! Email addresses: kept as typed for display, compared in a normalised form.

use unicode_normalization::UnicodeNormalization;

/// A syntactically acceptable address. `display` is the trimmed input;
/// `normalized` (NFC, then Unicode lower case) is what uniqueness and login use,
/// so `Ann@Example.com` and `ann@example.com` are one account, as are
/// `ÜLRICH@x.test` and `ülrich@x.test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    normalized: String,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let display = raw.trim();
        if display.is_empty() {
            return Err("email is empty");
        }
        if display.chars().count() > 254 {
            return Err("email is longer than 254 characters");
        }
        if display.chars().any(|c| c.is_whitespace() || c.is_control() || is_invisible(c)) {
            return Err("email contains whitespace, control or invisible characters");
        }
        let mut parts = display.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err("email must contain exactly one @");
        };
        if local.is_empty() || domain.is_empty() {
            return Err("email needs a local part before the @ and a domain after it");
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return Err("email domain is malformed");
        }
        Ok(Self { display: display.to_owned(), normalized: normalize_email(display) })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// Format characters that render as nothing but change how text reads:
/// zero-width spaces and joiners, bidirectional overrides, the BOM, soft hyphen.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// NFC, then Unicode lower case, of the trimmed input. Login looks accounts up
/// by this even when the input would not parse, so a malformed address costs
/// the same as a wrong password.
pub fn normalize_email(raw: &str) -> String {
    raw.trim().nfc().collect::<String>().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_folds_beyond_ascii() {
        let a = Email::parse("  ÜLRICH@X.test ").unwrap();
        let b = Email::parse("ülrich@x.test").unwrap();
        assert_eq!(a.normalized(), b.normalized());
        assert_eq!(a.as_str(), "ÜLRICH@X.test");
        assert_eq!(Email::parse("Ann@Example.com").unwrap().normalized(), "ann@example.com");
    }

    #[test]
    fn composed_and_decomposed_forms_are_one_address() {
        let composed = Email::parse("j\u{e9}r\u{f4}me@x.test").unwrap();
        let decomposed = Email::parse("je\u{301}ro\u{302}me@x.test").unwrap();
        assert_eq!(composed.normalized(), decomposed.normalized());
    }

    #[test]
    fn rejects_malformed_addresses() {
        let long = format!("{}@x.test", "a".repeat(250));
        for bad in [
            "",
            "   ",
            "no-at",
            "@x.test",
            "a@",
            "a@b@c",
            "a b@x.test",
            "a@x..test",
            "a@.x",
            long.as_str(),
            "a\u{0}@x.test",
            "rtl\u{202e}@x.test",
            "a@\u{200b}",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
