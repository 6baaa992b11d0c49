//! Authentication: password hashing (`password`), access token claims and
//! issuing (`token`), verification of bearer tokens (`verify`), and the
//! extractor that turns a request into a user (`extractor`).

pub mod access;
pub mod clients;
pub mod extractor;
pub mod password;
pub mod sessions;
pub mod throttle;
pub mod token;
pub mod verify;

pub use extractor::{AdminUser, CurrentUser};
pub use password::Hasher;
pub use token::{AccessClaims, TokenIssuer};
pub use verify::Verifier;
