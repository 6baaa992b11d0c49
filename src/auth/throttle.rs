//! Throttling of failed logins (SPEC §5), shared by every instance through
//! the database. Three counters per attempt, each over a one-hour window:
//!
//! - the account and client address together: after 5 failures each further
//!   try waits 1, 2, 4 … up to 60 seconds (slows guessing from one place);
//! - the account alone: at most 100 failures an hour, then 429 until the
//!   window ends (caps guessing from many places);
//! - the client address alone: at most 1000 failures an hour.
//!
//! The delays are keyed by address, so an attacker elsewhere slows down only
//! themselves. The caps do not apply from an address where the account
//! logged in successfully in the last 30 days, so an attacker who spends 100
//! guesses from many addresses, or 1000 from the user's own network, does not
//! lock the real user out from their usual place; from a new address a cap
//! lasts at most the hour. An attempt counts as a failure from the moment it
//! starts, so concurrent guesses cannot slip past the check.
//! Unknown and known emails are counted alike, so throttling reveals nothing.
//! Wrong current passwords at `POST /v1/password` count like failed logins.

use std::net::IpAddr;

use diesel::QueryResult;

use crate::db::failures::{FailureRow, clear_failures, find_failures, save_failures};
use crate::db::{DbConnection, write_txn};

pub const WINDOW_SECS: i64 = 3600;
/// How long a successful login vouches for its address.
pub const KNOWN_ADDRESS_SECS: i64 = 30 * 86_400;
const ACCOUNT_LIMIT: i64 = 100;
const ADDRESS_LIMIT: i64 = 1000;
const FREE_FAILURES: i64 = 5;
const MAX_DELAY_SECS: i64 = 60;

struct Counter {
    subject: String,
    limit: Option<i64>,
    delays: bool,
}

/// The unit an address is counted in: an IPv4 address (also when mapped into
/// IPv6), or an IPv6 /64, since one host can use every address of its /64.
fn address_key(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn counters(email_normalized: &str, addr: Option<IpAddr>) -> Vec<Counter> {
    let addr = addr.map(address_key);
    let mut v =
        vec![Counter { subject: format!("account:{email_normalized}"), limit: Some(ACCOUNT_LIMIT), delays: false }];
    if let Some(ip) = addr {
        v.push(Counter { subject: format!("pair:{ip}|{email_normalized}"), limit: None, delays: true });
        v.push(Counter { subject: format!("addr:{ip}"), limit: Some(ADDRESS_LIMIT), delays: false });
    }
    v
}

/// Seconds until `row`'s subject may try again, if it must wait.
fn wait(row: &FailureRow, counter: &Counter, now: i64) -> Option<i64> {
    if now - row.window_start >= WINDOW_SECS {
        return None;
    }
    if counter.limit.is_some_and(|limit| row.failures >= limit) {
        return Some(row.window_start + WINDOW_SECS - now);
    }
    if counter.delays && row.failures >= FREE_FAILURES {
        let delay = (1i64 << (row.failures - FREE_FAILURES).min(6)).min(MAX_DELAY_SECS);
        let wait = row.last_failure + delay - now;
        return (wait > 0).then_some(wait);
    }
    None
}

fn known_subject(ip: IpAddr, email_normalized: &str) -> String {
    format!("known:{}|{email_normalized}", address_key(ip))
}

/// Serialises throttle bookkeeping on PostgreSQL (SQLite's `BEGIN IMMEDIATE` already does).
const THROTTLE_LOCK: i64 = 0x7465_7373_6572_6103;

fn is_known(c: &mut DbConnection, email_normalized: &str, addr: Option<IpAddr>, now: i64) -> QueryResult<bool> {
    let Some(ip) = addr else { return Ok(false) };
    Ok(find_failures(c, &known_subject(ip, email_normalized))?
        .is_some_and(|row| now - row.window_start < KNOWN_ADDRESS_SECS))
}

/// Starts an attempt: `Err(seconds)` if it must wait; otherwise the attempt
/// is counted as a failure at once, before any hashing, so a burst of
/// concurrent guesses cannot all pass the check (`attempt_succeeded` takes
/// it back). From an address the account logged in from recently, the hard
/// caps (per account, per address) do not apply, only the delays.
pub fn begin_attempt(
    c: &mut DbConnection,
    email_normalized: &str,
    addr: Option<IpAddr>,
) -> QueryResult<Result<(), i64>> {
    let now = crate::time::now();
    write_txn(c, |c| {
        crate::db::lock_for_update(c, THROTTLE_LOCK)?;
        let known = is_known(c, email_normalized, addr, now)?;
        let counters: Vec<Counter> =
            counters(email_normalized, addr).into_iter().filter(|k| !(known && k.limit.is_some())).collect();
        let mut rows = Vec::new();
        let mut longest = None;
        for counter in &counters {
            let row = find_failures(c, &counter.subject)?;
            if let Some(row) = &row {
                longest = longest.max(wait(row, counter, now));
            }
            rows.push(row);
        }
        if let Some(wait) = longest {
            return Ok(Err(wait));
        }
        for (counter, row) in counters.into_iter().zip(rows) {
            let row = match row {
                Some(row) if now - row.window_start < WINDOW_SECS => {
                    FailureRow { failures: row.failures + 1, last_failure: now, ..row }
                }
                _ => FailureRow { subject: counter.subject, window_start: now, failures: 1, last_failure: now },
            };
            save_failures(c, &row)?;
        }
        Ok(Ok(()))
    })
}

/// The attempt succeeded: it was not a failure after all. The delays of that
/// account from that address are cleared and the address is remembered as
/// the account's own.
pub fn attempt_succeeded(c: &mut DbConnection, email_normalized: &str, addr: Option<IpAddr>) -> QueryResult<()> {
    let now = crate::time::now();
    write_txn(c, |c| {
        crate::db::lock_for_update(c, THROTTLE_LOCK)?;
        for counter in counters(email_normalized, addr) {
            if counter.delays {
                clear_failures(c, &counter.subject)?;
            } else if let Some(row) = find_failures(c, &counter.subject)? {
                save_failures(c, &FailureRow { failures: (row.failures - 1).max(0), ..row })?;
            }
        }
        if let Some(ip) = addr {
            let row = FailureRow {
                subject: known_subject(ip, email_normalized),
                window_start: now,
                failures: 0,
                last_failure: now,
            };
            save_failures(c, &row)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(failures: i64, window_start: i64, last_failure: i64) -> FailureRow {
        FailureRow { subject: "s".into(), window_start, failures, last_failure }
    }

    #[test]
    fn delays_grow_after_five_failures_and_stop_at_a_minute() {
        let pair = Counter { subject: "p".into(), limit: None, delays: true };
        assert_eq!(wait(&row(4, 0, 100), &pair, 100), None);
        assert_eq!(wait(&row(5, 0, 100), &pair, 100), Some(1));
        assert_eq!(wait(&row(7, 0, 100), &pair, 100), Some(4));
        assert_eq!(wait(&row(40, 0, 100), &pair, 100), Some(60));
        assert_eq!(wait(&row(40, 0, 100), &pair, 160), None);
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key(a), "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_eq!(address_key("10.0.0.1".parse().unwrap()), "10.0.0.1");
    }

    #[test]
    fn the_account_cap_lasts_until_the_window_ends() {
        let account = Counter { subject: "a".into(), limit: Some(ACCOUNT_LIMIT), delays: false };
        assert_eq!(wait(&row(99, 0, 10), &account, 10), None);
        assert_eq!(wait(&row(100, 0, 10), &account, 600), Some(3000));
        assert_eq!(wait(&row(100, 0, 10), &account, 3600), None);
    }
}
