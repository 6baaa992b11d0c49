//! Queries on `auth_failures`: one row per account or client address.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::auth_failures;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_failures)]
pub struct FailureRow {
    pub subject: String,
    pub window_start: i64,
    pub failures: i64,
    pub last_failure: i64,
}

pub fn find_failures(conn: &mut DbConnection, subject: &str) -> QueryResult<Option<FailureRow>> {
    auth_failures::table.find(subject).select(FailureRow::as_select()).first(conn).optional()
}

/// Stores a row, replacing the one for the same subject.
pub fn save_failures(conn: &mut DbConnection, row: &FailureRow) -> QueryResult<()> {
    let updated = diesel::update(auth_failures::table.find(&row.subject))
        .set((
            auth_failures::window_start.eq(row.window_start),
            auth_failures::failures.eq(row.failures),
            auth_failures::last_failure.eq(row.last_failure),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(auth_failures::table).values(row).execute(conn)?;
    }
    Ok(())
}

pub fn clear_failures(conn: &mut DbConnection, subject: &str) -> QueryResult<()> {
    diesel::delete(auth_failures::table.find(subject)).execute(conn).map(drop)
}

/// Forgets failure windows that started before `cutoff`, and addresses known
/// from a successful login (subjects `known:…`) last seen before `known_cutoff`.
pub fn purge_failures(conn: &mut DbConnection, cutoff: i64, known_cutoff: i64) -> QueryResult<usize> {
    let windows = diesel::delete(
        auth_failures::table
            .filter(auth_failures::window_start.lt(cutoff).and(auth_failures::subject.not_like("known:%"))),
    )
    .execute(conn)?;
    let addresses = diesel::delete(
        auth_failures::table
            .filter(auth_failures::window_start.lt(known_cutoff).and(auth_failures::subject.like("known:%"))),
    )
    .execute(conn)?;
    Ok(windows + addresses)
}
