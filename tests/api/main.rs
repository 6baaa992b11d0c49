//! One test binary for everything that talks HTTP to a real server started on
//! port 0 (each module is an area; `helpers` starts apps and databases).

mod helpers;

mod accounts;
mod admin;
mod admin_cli;
mod cli;
mod errors;
mod interop;
mod jwks;
mod lifecycle;
mod metrics;
mod oauth;
mod outage;
mod rotation;
mod sessions;
mod throttle;
mod tokens;
