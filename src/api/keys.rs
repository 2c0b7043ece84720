//! `GET|POST /api/v1/keys`, `DELETE /api/v1/keys/{id}`: a tenant's admin
//! manages the tenant's own keys (rotation without the CLI). A created
//! key's secret is in the answer once and never again; listings show its
//! prefix, scopes and last use.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::auth::{Admin, Authorised};
use super::error::ApiError;
use super::AppState;
use crate::auth::Scope;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyRequest {
    name: String,
    scopes: Vec<String>,
    rate_limit_per_minute: Option<u32>,
}

const MAX_KEY_REQUEST_BYTES: usize = 4 * 1024;

pub async fn list(
    state: web::Data<AppState>,
    caller: Authorised<Admin>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let tenant = caller.tenant.id.clone();
    let keys = super::blocking(move || auth.control().keys(Some(&tenant))).await?;
    Ok(HttpResponse::Ok().json(json!({ "keys": keys })))
}

pub async fn create(
    state: web::Data<AppState>,
    caller: Authorised<Admin>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = super::read_body(payload, MAX_KEY_REQUEST_BYTES).await?;
    let request: NewKeyRequest = serde_json::from_slice(&body).map_err(|error| {
        ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "expected {{\"name\", \"scopes\": [...], \"rate_limit_per_minute\"?}}: {error}"
            ),
            Some("body"),
        )
    })?;
    let scopes = Scope::parse_list(&request.scopes.join(","))
        .map_err(|message| ApiError::bad_parameter("scopes", message))?;
    let auth = state.auth.clone();
    let tenant = caller.tenant.id.clone();
    let created = super::blocking(move || {
        auth.create_key(
            &tenant,
            &request.name,
            &scopes,
            request.rate_limit_per_minute,
            None,
            crate::time::now_unix(),
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

pub async fn revoke(
    state: web::Data<AppState>,
    caller: Authorised<Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: i64 = path
        .into_inner()
        .parse()
        .map_err(|_| ApiError::bad_parameter("id", "id must be a key id (an integer)"))?;
    let auth = state.auth.clone();
    let tenant = caller.tenant.id.clone();
    let revoked = super::blocking(move || {
        auth.control()
            .revoke_key(id, Some(&tenant), crate::time::now_unix())
    })
    .await?;
    match revoked {
        Some(key) => Ok(HttpResponse::Ok().json(key)),
        None => Err(ApiError::not_found(format!("no key {id} in this tenant"))),
    }
}
