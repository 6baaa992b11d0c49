//! The checks on an access token that need the database, after its signature
//! and claims passed: the deny list (RFC 7009 revocation), and whether its
//! subject still may act (a user not disabled and not logged out since the
//! token was issued; a service client not deleted).

use diesel::QueryResult;

use super::AccessClaims;
use crate::db::DbConnection;
use crate::db::clients::{ClientRow, find_client};
use crate::db::sessions::is_access_token_denied;
use crate::db::users::{UserRow, find_user};

#[derive(Debug)]
pub enum Subject {
    User(Box<UserRow>),
    Client(Box<ClientRow>),
}

/// The subject of a token that is still good, or `None`.
pub fn check_access(c: &mut DbConnection, claims: &AccessClaims) -> QueryResult<Option<Subject>> {
    if is_access_token_denied(c, &claims.jti)? {
        return Ok(None);
    }
    Ok(match &claims.client_id {
        Some(client_id) if *client_id == claims.sub => find_client(c, client_id)?.map(|c| Subject::Client(Box::new(c))),
        Some(_) => None,
        None => find_user(c, &claims.sub)?
            .filter(|u| u.disabled_at.is_none() && claims.issued_at_ms() >= u.tokens_valid_after)
            .map(|u| Subject::User(Box::new(u))),
    })
}
