//! The admin API (SPEC §4, role `admin`): keys, users, audit log. Every
//! handler takes `AdminUser` first, so a refusal (401/403) happens before any
//! change; every change writes its audit event in the same transaction.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{LimitedBody, has_content_type};
use super::json::{JsonObject, Object};
use crate::auth::AdminUser;
use crate::db::{self, audit, keys::KeyRow, users::UserRow};
use crate::domain::Role;
use crate::error::ApiError;
use crate::keys::rotation;
use crate::keys::{Alg, KeyState};
use crate::state::AppState;

fn instant(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| crate::time::rfc3339(t).into())
}

/// A key as the admin API shows it: never private material.
pub fn key_view(k: &KeyRow) -> Value {
    json!({
        "kid": k.kid, "alg": k.alg, "state": k.state,
        "created_at": instant(Some(k.created_at)), "activated_at": instant(k.activated_at),
        "retired_at": instant(k.retired_at), "expires_at": instant(k.expires_at), "revoked_at": instant(k.revoked_at),
    })
}

pub fn user_view(u: &UserRow) -> Value {
    json!({
        "id": u.id, "email": u.email, "role": u.role,
        "created_at": instant(Some(u.created_at)), "disabled": u.disabled_at.is_some(),
        "disabled_at": instant(u.disabled_at),
    })
}

/// Keys newest first within each state: active, next, retired, then the rest.
fn sorted_keys(mut rows: Vec<KeyRow>) -> Vec<KeyRow> {
    let rank = |s: &str| match KeyState::parse(s) {
        Some(KeyState::Active) => 0,
        Some(KeyState::Next) => 1,
        Some(KeyState::Retired) => 2,
        Some(KeyState::Revoked) => 3,
        _ => 4,
    };
    rows.sort_by_key(|r| (rank(&r.state), r.alg.clone(), -r.created_at));
    rows
}

/// `GET /admin/keys`.
pub async fn list_keys(_admin: AdminUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = db::run(&state.pool, |c| Ok(db::keys::list_keys(c)?)).await?;
    Ok(HttpResponse::Ok().json(json!({"keys": sorted_keys(rows).iter().map(key_view).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    alg: Option<String>,
    #[serde(default)]
    force: bool,
}

/// `POST /admin/keys/rotate` `{alg?, force?}`.
pub async fn rotate_keys(
    admin: AdminUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: LimitedBody,
) -> Result<HttpResponse, ApiError> {
    // The body is optional (rotate everything), but a body that is there must
    // parse: a typo must not turn into "rotate all algorithms".
    let body = body.0;
    let req: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest { alg: None, force: false }
    } else {
        if !has_content_type(&req, "application/json") {
            return Err(ApiError::UnsupportedMediaType);
        }
        serde_json::from_slice::<Object<RotateRequest>>(&body)
            .map_err(|e| ApiError::bad_request("invalid_request", format!("invalid JSON body: {e}")))?
            .0
    };
    let algs = match req.alg.as_deref() {
        None => state.key_settings.algs.clone(),
        Some(a) => {
            let alg =
                Alg::parse(a).ok_or_else(|| ApiError::bad_request("invalid_request", "alg must be RS256 or EdDSA"))?;
            if !state.key_settings.algs.contains(&alg) {
                return Err(ApiError::bad_request("invalid_request", format!("{alg} is not in TESSERA_ALGS")));
            }
            vec![alg]
        }
    };
    let st = state.clone();
    let actor = admin.0.user.id.clone();
    let rotated = db::run(&state.pool, move |c| {
        let result = rotation::rotate(c, &algs, req.force, &st.key_context(&actor));
        if result.is_ok() {
            let _ = st.reload_keys(c);
        }
        Ok(result)
    })
    .await??;
    Ok(HttpResponse::Ok().json(json!({"rotated": rotated})))
}

/// `POST /admin/keys/{kid}/revoke`.
pub async fn revoke_key(
    admin: AdminUser,
    state: web::Data<AppState>,
    kid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let actor = admin.0.user.id.clone();
    let kid = kid.into_inner();
    let revoked = db::run(&state.pool, move |c| {
        let result = rotation::revoke(c, &kid, &st.key_context(&actor));
        if result.is_ok() {
            let _ = st.reload_keys(c);
        }
        Ok(result)
    })
    .await??;
    Ok(HttpResponse::Ok().json(json!({"revoked": revoked})))
}

#[derive(Deserialize)]
pub struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

impl Page {
    fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(50);
        let offset = self.offset.unwrap_or(0);
        if !(1..=200).contains(&limit) || !(0..=1_000_000_000).contains(&offset) {
            return Err(ApiError::bad_request("invalid_request", "limit must be 1 to 200 and offset 0 to 1000000000"));
        }
        Ok((limit, offset))
    }
}

fn paged(items: Vec<Value>, name: &str, limit: i64, offset: i64) -> Value {
    let next = (items.len() as i64 == limit).then_some(offset + limit);
    json!({name: items, "next_offset": next})
}

/// `GET /admin/users?limit&offset`.
pub async fn list_users(
    _admin: AdminUser,
    state: web::Data<AppState>,
    page: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = page.bounds()?;
    let rows = db::run(&state.pool, move |c| Ok(db::users::list_users(c, limit, offset)?)).await?;
    Ok(HttpResponse::Ok().json(paged(rows.iter().map(user_view).collect(), "users", limit, offset)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    role: Option<String>,
    disabled: Option<bool>,
}

/// `PATCH /admin/users/{id}` `{role?, disabled?}`. Refuses to leave no enabled admin.
pub async fn update_user(
    admin: AdminUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonObject<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner().0;
    let role = match patch.role.as_deref() {
        None => None,
        Some(r) => {
            Some(Role::parse(r).ok_or_else(|| ApiError::bad_request("invalid_request", "role must be user or admin"))?)
        }
    };
    if role.is_none() && patch.disabled.is_none() {
        return Err(ApiError::bad_request("invalid_request", "give role, disabled or both"));
    }
    let actor = admin.0.user.id.clone();
    // Ids are lower-case UUIDs; accept them in any case.
    let id = id.into_inner().to_ascii_lowercase();
    let user = db::run(&state.pool, move |c| Ok(apply_user_patch(c, Actor::Admin(&actor), &id, role, patch.disabled)))
        .await??;
    Ok(HttpResponse::Ok().json(user_view(&user)))
}

/// Who changes a user: an admin through the API (re-checked inside the
/// transaction), or the CLI acting on the database directly.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Admin(&'a str),
    Cli,
}

impl Actor<'_> {
    /// As the audit log records it.
    pub fn name(&self) -> &str {
        match self {
            Actor::Admin(id) => id,
            Actor::Cli => "cli",
        }
    }
}

/// Changes a user's role and/or enabled state in one transaction, with audit events.
pub fn apply_user_patch(
    c: &mut db::DbConnection,
    actor: Actor<'_>,
    id: &str,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<UserRow, ApiError> {
    db::write_txn(c, |c| {
        // Two admins disabling each other at once must not both pass the check below.
        db::lock_for_update(c, db::USERS_LOCK)?;
        // The caller's admin role was checked before this transaction; an admin
        // demoted or disabled in between must not complete the change.
        if let Actor::Admin(admin) = actor {
            let still_admin =
                db::users::find_user(c, admin)?.is_some_and(|a| a.role == "admin" && a.disabled_at.is_none());
            if !still_admin {
                return Err(ApiError::Forbidden("this needs the admin role"));
            }
        }
        let actor = actor.name();
        let user = db::users::find_user(c, id)?.ok_or(ApiError::NotFound("no user has this id"))?;
        let now = crate::time::now();
        let loses_admin =
            user.role == "admin" && user.disabled_at.is_none() && (role == Some(Role::User) || disabled == Some(true));
        if loses_admin && db::users::count_other_enabled_admins(c, id)? == 0 {
            return Err(ApiError::Conflict {
                code: "last_admin",
                description: "this is the last enabled admin".into(),
            });
        }
        if let Some(role) = role.filter(|r| r.as_str() != user.role) {
            db::users::set_role(c, id, role.as_str(), now)?;
            audit::insert_event(c, actor, "user.role_changed", id, json!({"from": user.role, "to": role.as_str()}))?;
        }
        if let Some(disabled) = disabled.filter(|d| *d != user.disabled_at.is_some()) {
            // Sessions first: revoking waits for a refresh in flight, so the
            // token cut-off set next comes after any token it issued.
            if disabled {
                db::sessions::revoke_user_families(c, id, now)?;
            }
            db::users::set_disabled(c, id, disabled, now)?;
            let action = if disabled { "user.disabled" } else { "user.enabled" };
            audit::insert_event(c, actor, action, id, json!({}))?;
        }
        db::users::find_user(c, id)?.ok_or(ApiError::NotFound("no user has this id"))
    })
}

/// `GET /admin/audit?limit&offset`: newest first.
pub async fn list_audit(
    _admin: AdminUser,
    state: web::Data<AppState>,
    page: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = page.bounds()?;
    let rows = db::run(&state.pool, move |c| Ok(audit::list_events(c, limit, offset)?)).await?;
    let events = rows
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "at": instant(Some(e.at)), "actor": e.actor, "action": e.action,
                "subject": e.subject, "details": serde_json::from_str::<Value>(&e.details).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(paged(events, "events", limit, offset)))
}
