//! Queries on `clients` (service clients for client_credentials).

use diesel::prelude::*;

use super::DbConnection;
use super::schema::clients;

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub secret_hash: String,
    pub scopes: String,
    pub audience: Option<String>,
    pub alg: String,
    pub created_at: i64,
}

impl std::fmt::Debug for ClientRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRow").field("id", &self.id).field("name", &self.name).finish_non_exhaustive()
    }
}

pub fn insert_client(conn: &mut DbConnection, client: &ClientRow) -> QueryResult<()> {
    diesel::insert_into(clients::table).values(client).execute(conn).map(drop)
}

pub fn find_client(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ClientRow>> {
    clients::table.find(id).select(ClientRow::as_select()).first(conn).optional()
}

pub fn list_clients(conn: &mut DbConnection) -> QueryResult<Vec<ClientRow>> {
    clients::table.select(ClientRow::as_select()).order(clients::created_at.asc()).load(conn)
}

pub fn delete_client(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::delete(clients::table.find(id)).execute(conn).map(|n| n == 1)
}
