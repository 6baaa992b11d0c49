//! Signing keys: algorithms, generation and signing (`material`), public JWKs
//! and thumbprints (`jwk`), encryption at rest under the master key
//! (`master`), the in-memory key set that signs and verifies (`set`), and the
//! database side: loading and first-start creation (`store`).
//!
//! Private key bytes never leave this module except as AES-GCM ciphertext.

mod alg;
pub mod jwk;
pub mod master;
pub mod material;
pub mod rotation;
pub mod set;
pub mod store;

pub use alg::{Alg, KeyState};
pub use jwk::PublicJwk;
pub use material::{KeyMaterial, Signer};
pub use set::{KeySet, SharedKeySet};
