//! Parsed input: a value of these types has passed every rule SPEC §5 sets,
//! so code that holds one does not check again.

mod email;
mod password;
mod role;

pub use email::{Email, normalize_email};
pub use password::{Password, PasswordError};
pub use role::Role;
