//! Queries on `users`. Rows carry what the table holds; parsing into domain
//! types happens at the edges that need it.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::users;

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub email_normalized: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub disabled_at: Option<i64>,
    /// Unix milliseconds; see `invalidate_tokens`.
    pub tokens_valid_after: i64,
}

impl std::fmt::Debug for UserRow {
    /// Everything but the password hash.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

impl UserRow {
    /// A new, enabled account created now.
    pub fn new(email: &crate::domain::Email, password_hash: String, role: crate::domain::Role) -> Self {
        let now = crate::time::now();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.as_str().to_owned(),
            email_normalized: email.normalized().to_owned(),
            password_hash,
            role: role.as_str().to_owned(),
            created_at: now,
            updated_at: now,
            disabled_at: None,
            tokens_valid_after: 0,
        }
    }
}

pub fn insert_user(conn: &mut DbConnection, user: &UserRow) -> QueryResult<()> {
    diesel::insert_into(users::table).values(user).execute(conn).map(drop)
}

pub fn find_user(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UserRow>> {
    users::table.find(id).select(UserRow::as_select()).first(conn).optional()
}

pub fn find_user_by_email(conn: &mut DbConnection, email_normalized: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email_normalized.eq(email_normalized))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// Replaces the hash only if it is still `old` (a concurrent password change wins).
pub fn update_password_hash(conn: &mut DbConnection, id: &str, old: &str, new: &str, now: i64) -> QueryResult<bool> {
    diesel::update(users::table.find(id).filter(users::password_hash.eq(old)))
        .set((users::password_hash.eq(new), users::updated_at.eq(now)))
        .execute(conn)
        .map(|n| n == 1)
}

pub fn set_role(conn: &mut DbConnection, id: &str, role: &str, now: i64) -> QueryResult<bool> {
    diesel::update(users::table.find(id))
        .set((users::role.eq(role), users::updated_at.eq(now)))
        .execute(conn)
        .map(|n| n == 1)
}

/// One page of users, oldest first.
pub fn list_users(conn: &mut DbConnection, limit: i64, offset: i64) -> QueryResult<Vec<UserRow>> {
    users::table
        .select(UserRow::as_select())
        .order((users::created_at.asc(), users::id.asc()))
        .limit(limit)
        .offset(offset)
        .load(conn)
}

/// Enabled admins other than `except`: a change may not leave none.
pub fn count_other_enabled_admins(conn: &mut DbConnection, except: &str) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq("admin").and(users::disabled_at.is_null()).and(users::id.ne(except)))
        .count()
        .get_result(conn)
}

/// Access tokens of a user issued before this call stop working, those issued
/// after it keep working, even within the same second: the cut-off is in
/// milliseconds, compared with the issue time carried by the token's UUIDv7 `jti`.
pub fn invalidate_tokens(conn: &mut DbConnection, id: &str, now: i64) -> QueryResult<bool> {
    diesel::update(users::table.find(id))
        .set((users::tokens_valid_after.eq(crate::time::now_ms()), users::updated_at.eq(now)))
        .execute(conn)
        .map(|n| n == 1)
}

/// Disables (ending every access token issued until now) or re-enables.
pub fn set_disabled(conn: &mut DbConnection, id: &str, disabled: bool, now: i64) -> QueryResult<bool> {
    let target = users::table.find(id);
    let n = if disabled {
        diesel::update(target)
            .set((
                users::disabled_at.eq(now),
                users::tokens_valid_after.eq(crate::time::now_ms()),
                users::updated_at.eq(now),
            ))
            .execute(conn)?
    } else {
        diesel::update(target).set((users::disabled_at.eq(None::<i64>), users::updated_at.eq(now))).execute(conn)?
    };
    Ok(n == 1)
}
