//! Queries on `audit_events`: append and page through, newest first.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::audit_events;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: String,
}

/// Appends one event. Call it inside the transaction that made the change,
/// so an event exists exactly when its change does.
pub fn insert_event(
    conn: &mut DbConnection,
    actor: &str,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> QueryResult<()> {
    let row = AuditRow {
        id: uuid::Uuid::now_v7().to_string(),
        at: crate::time::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        details: details.to_string(),
    };
    diesel::insert_into(audit_events::table).values(&row).execute(conn).map(drop)
}

/// One page of events, newest first.
pub fn list_events(conn: &mut DbConnection, limit: i64, offset: i64) -> QueryResult<Vec<AuditRow>> {
    audit_events::table
        .select(AuditRow::as_select())
        .order((audit_events::at.desc(), audit_events::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(conn)
}
