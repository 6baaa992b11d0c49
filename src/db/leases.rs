//! Leases: a job that must run on one instance at a time takes the lease with
//! a single conditional UPDATE (compare-and-swap on the holder), which works
//! the same on SQLite and PostgreSQL.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::leases;

/// Takes or renews `name` for `holder` until `now + ttl_secs`. True if held.
pub fn acquire_lease(conn: &mut DbConnection, name: &str, holder: &str, now: i64, ttl_secs: i64) -> QueryResult<bool> {
    diesel::update(leases::table.find(name).filter(leases::holder.eq(holder).or(leases::expires_at.lt(now))))
        .set((leases::holder.eq(holder), leases::expires_at.eq(now + ttl_secs)))
        .execute(conn)
        .map(|n| n == 1)
}
