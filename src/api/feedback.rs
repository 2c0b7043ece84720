//! `POST /api/v1/feedback`, `GET /api/v1/feedback/{id}`,
//! `GET /api/v1/feedback/{id}/raw`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::auth::{Admin, Authorised, Ingest, Read};
use super::error::ApiError;
use super::AppState;

pub async fn ingest(
    state: web::Data<AppState>,
    tenant: Authorised<Ingest>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = super::read_body(payload, state.settings.max_body_bytes).await?;
    let ingestor = tenant.ingestor.clone();
    let inserted = super::blocking(move || ingestor.ingest_body(&body)).await?;
    let duplicates = inserted.iter().filter(|item| item.duplicate).count();
    Ok(HttpResponse::Accepted().json(json!({
        "accepted": inserted.len() - duplicates,
        "duplicates": duplicates,
        "items": inserted,
    })))
}

pub async fn get(
    state: web::Data<AppState>,
    tenant: Authorised<Read>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = feedback_id(path)?;
    let store = tenant.store.clone();
    let item = super::blocking(move || store.get(id)).await?;
    match item {
        Some(item) => {
            let offset = state.settings.utc_offset_seconds();
            let mut body = serde_json::to_value(&item).map_err(super::error::internal)?;
            body["created_at"] = json!(crate::time::format_rfc3339(item.item.created_at, offset));
            body["received_at"] = json!(crate::time::format_rfc3339(item.received_at, offset));
            Ok(HttpResponse::Ok().json(body))
        }
        None => Err(ApiError::not_found(format!("no feedback with id {id}"))),
    }
}

/// The unmasked originals of an item (`keep_raw_text`), for the tenant's
/// admins only: `{"kept": false}` when the deployment keeps none.
pub async fn raw(
    state: web::Data<AppState>,
    tenant: Authorised<Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = feedback_id(path)?;
    let store = tenant.store.clone();
    let (item, originals) = super::blocking(move || -> Result<_, crate::store::StoreError> {
        Ok((store.get(id)?, store.raw_texts(id)?))
    })
    .await?;
    if item.is_none() {
        return Err(ApiError::not_found(format!("no feedback with id {id}")));
    }
    let offset = state.settings.utc_offset_seconds();
    let texts: Vec<serde_json::Value> = originals
        .iter()
        .map(|raw| {
            json!({
                "origin": raw.origin,
                "text": raw.text,
                "received_at": crate::time::format_rfc3339(raw.received_at, offset),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "id": id,
        "kept": tenant.settings.keep_raw_text,
        "texts": texts,
    })))
}

fn feedback_id(path: web::Path<String>) -> Result<i64, ApiError> {
    path.into_inner()
        .parse()
        .map_err(|_| ApiError::bad_parameter("id", "id must be a positive integer"))
}
