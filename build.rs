//! Rebuild when a migration folder is added: `embed_migrations!` reads the
//! directory at compile time and cargo does not watch it on its own.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
