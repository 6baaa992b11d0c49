//! Background work of every instance: reload the key set from the database
//! every two seconds (so a change made elsewhere arrives within 5 s), and,
//! on the one instance that holds the maintenance lease, expire retired keys
//! and rotate keys whose rotation interval has passed.

use std::time::Duration;

use actix_web::web;

use crate::db::{self, DbConnection, leases::acquire_lease};
use crate::keys::rotation::{self, LifecycleError};
use crate::state::AppState;

/// How often each instance looks for key changes.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// How long the maintenance lease lasts without renewal.
const LEASE_SECS: i64 = 30;
const LEASE: &str = "key-maintenance";

/// Starts the loop on the current actix system; it ends with the system.
pub fn spawn(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(RELOAD_EVERY);
        loop {
            tick.tick().await;
            let st = state.clone();
            let result = db::run(&state.pool, move |c| Ok(tick_once(c, &st))).await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::warn!("key maintenance: {e}"),
                Err(e) => log::warn!("key maintenance: {e}"),
            }
        }
    });
}

/// One round: maintenance if this instance holds the lease, then a reload.
pub fn tick_once(c: &mut DbConnection, state: &AppState) -> Result<(), LifecycleError> {
    let now = crate::time::now();
    if acquire_lease(c, LEASE, &state.instance_id, now, LEASE_SECS)? {
        maintain(c, state, now)?;
    }
    state.reload_keys(c)?;
    Ok(())
}

fn maintain(c: &mut DbConnection, state: &AppState, now: i64) -> Result<(), LifecycleError> {
    let purged = crate::db::sessions::purge_expired(c, now)?
        + crate::db::failures::purge_failures(
            c,
            now - crate::auth::throttle::WINDOW_SECS,
            now - crate::auth::throttle::KNOWN_ADDRESS_SECS,
        )?;
    if purged > 0 {
        log::debug!("purged {purged} expired sessions and deny-list entries");
    }
    let expired = rotation::expire_due(c, now, "system")?;
    if !expired.is_empty() {
        log::info!("expired keys {}", expired.join(", "));
    }
    let Some(interval) = state.key_settings.rotation_interval else { return Ok(()) };
    let due = rotation::due_rotations(c, &state.key_settings.algs, interval.as_secs() as i64, now)?;
    if due.is_empty() {
        return Ok(());
    }
    match rotation::rotate(c, &due, false, &state.key_context("system")) {
        Ok(rotated) => {
            for r in rotated {
                log::info!(
                    "rotated {}: {} now signs, {} retired, {} is next",
                    r.alg,
                    r.active_kid,
                    r.retired_kid,
                    r.next_kid
                );
            }
            Ok(())
        }
        Err(LifecycleError::NextKeyTooYoung { alg, ready_at }) => {
            log::warn!("scheduled rotation of {alg} waits for its next key until {}", crate::time::rfc3339(ready_at));
            Ok(())
        }
        Err(e) => Err(e),
    }
}
