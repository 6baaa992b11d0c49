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
//! themselves. The account cap does not apply from an address where the
//! account logged in successfully in the last 30 days, so an attacker who
//! spends 100 guesses from many addresses does not lock the real user out
//! from their usual place; from a new address the cap lasts at most the hour.
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

/// How long the caller must wait before this login may be tried, if at all.
pub fn retry_after(c: &mut DbConnection, email_normalized: &str, addr: Option<IpAddr>) -> QueryResult<Option<i64>> {
    let now = crate::time::now();
    let known = match addr {
        Some(ip) => find_failures(c, &known_subject(ip, email_normalized))?
            .is_some_and(|row| now - row.window_start < KNOWN_ADDRESS_SECS),
        None => false,
    };
    let mut longest = None;
    for counter in counters(email_normalized, addr) {
        if known && counter.subject.starts_with("account:") {
            continue;
        }
        if let Some(row) = find_failures(c, &counter.subject)? {
            longest = longest.max(wait(&row, &counter, now));
        }
    }
    Ok(longest)
}

/// Counts a failed login against every counter.
pub fn record_failure(c: &mut DbConnection, email_normalized: &str, addr: Option<IpAddr>) -> QueryResult<()> {
    let now = crate::time::now();
    write_txn(c, |c| {
        for counter in counters(email_normalized, addr) {
            let row = match find_failures(c, &counter.subject)? {
                Some(row) if now - row.window_start < WINDOW_SECS => {
                    FailureRow { failures: row.failures + 1, last_failure: now, ..row }
                }
                _ => FailureRow { subject: counter.subject, window_start: now, failures: 1, last_failure: now },
            };
            save_failures(c, &row)?;
        }
        Ok(())
    })
}

fn known_subject(ip: IpAddr, email_normalized: &str) -> String {
    format!("known:{}|{email_normalized}", address_key(ip))
}

/// A successful login clears the delays of that account from that address
/// and remembers the address as the account's own.
pub fn record_success(c: &mut DbConnection, email_normalized: &str, addr: Option<IpAddr>) -> QueryResult<()> {
    let Some(ip) = addr else { return Ok(()) };
    let now = crate::time::now();
    write_txn(c, |c| {
        clear_failures(c, &format!("pair:{}|{email_normalized}", address_key(ip)))?;
        let row = FailureRow {
            subject: known_subject(ip, email_normalized),
            window_start: now,
            failures: 0,
            last_failure: now,
        };
        save_failures(c, &row)
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
