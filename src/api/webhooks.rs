//! `GET|POST /webhooks/{platform}` (the default tenant) and
//! `/t/{tenant}/webhooks/{platform}`: chat platforms push here, each
//! tenant verified with its own secrets. The handler passes the raw request
//! to the tenant's chat receiver untouched (signatures are over the raw
//! bytes) and answers what the platform's adapter says.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::AppState;
use crate::webhooks::WebhookRequest;

/// Chat messages are small; a platform never sends more than this at once.
const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

pub async fn receive(
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let platform = path.into_inner();
    receive_for(
        state,
        crate::tenants::DEFAULT_TENANT.to_string(),
        platform,
        request,
        payload,
    )
    .await
}

pub async fn receive_for_tenant(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (tenant, platform) = path.into_inner();
    if crate::auth::validate_tenant_id(&tenant).is_err() {
        return Err(ApiError::not_found(format!("no tenant {tenant:?}")));
    }
    receive_for(state, tenant, platform, request, payload).await
}

async fn receive_for(
    state: web::Data<AppState>,
    tenant: String,
    platform: String,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body =
        super::read_body(payload, MAX_WEBHOOK_BODY.min(state.settings.max_body_bytes)).await?;
    let query: Vec<(String, String)> = serde_urlencoded::from_str(request.query_string())
        .map_err(|error| ApiError::bad_parameter("query", error.to_string()))?;
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((
                name.as_str().to_ascii_lowercase(),
                value.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let method = request.method().as_str().to_string();
    let tenants = state.tenants.clone();
    let chat = super::blocking(move || tenants.get(&tenant))
        .await?
        .chat
        .clone();
    let reply = super::blocking(move || {
        let request = WebhookRequest {
            method: &method,
            query: &query,
            headers: &headers,
            body: &body,
        };
        chat.receive(&platform, &request, crate::time::now_unix())
    })
    .await?;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    Ok(HttpResponse::build(status)
        .content_type(reply.content_type)
        .body(reply.body))
}
