//! HTTP handlers only: parse, call the core, map errors. No tantivy, SQL
//! or model types here.

pub mod alerts;
pub mod auth;
pub mod boards;
pub mod consumers;
pub mod error;
pub mod feedback;
pub mod followups;
pub mod keys;
pub mod params;
pub mod search;
pub mod ui;
pub mod webhooks;

use std::sync::Arc;

use actix_web::{web, HttpResponse};

use crate::auth::Auth;
use crate::boards::definition::BoardSet;
use crate::config::Settings;
use crate::nlp::Analyser;
use crate::tenants::Tenants;
use error::ApiError;

/// What every handler shares. A tenant's data is not here: handlers get it
/// only through the [`auth::Authorised`] extractor, from the caller's key.
pub struct AppState {
    pub settings: Settings,
    pub analyser: Arc<Analyser>,
    /// Board definitions, validated at start.
    pub boards: Arc<BoardSet>,
    pub auth: Arc<Auth>,
    pub tenants: Arc<Tenants>,
}

/// Runs blocking core work (SQLite, tantivy, analysis) off the async executor.
pub async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    match web::block(work).await {
        Ok(result) => result.map_err(Into::into),
        Err(error) => Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!("no worker thread available: {error}"),
            None,
        )),
    }
}

/// Reads a request body, refusing it as soon as it grows past `limit`.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid_body",
                error.to_string(),
                Some("body"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "request body is larger than {limit} bytes; split it into several requests"
                ),
                Some("body"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(healthz))
        .route("/webhooks/{platform}", web::get().to(webhooks::receive))
        .route("/webhooks/{platform}", web::post().to(webhooks::receive))
        .route(
            "/t/{tenant}/webhooks/{platform}",
            web::get().to(webhooks::receive_for_tenant),
        )
        .route(
            "/t/{tenant}/webhooks/{platform}",
            web::post().to(webhooks::receive_for_tenant),
        )
        .service(
            web::resource("/")
                .wrap(ui::security_headers())
                .route(web::get().to(ui::index)),
        )
        .service(
            web::scope("/static")
                .wrap(ui::security_headers())
                .route("/{tail:.*}", web::get().to(ui::asset)),
        )
        .service(
            web::scope("/api/v1")
                .route("/feedback", web::post().to(feedback::ingest))
                .route("/feedback/{id}", web::get().to(feedback::get))
                .route("/feedback/{id}/raw", web::get().to(feedback::raw))
                .route("/search", web::get().to(search::search))
                .route("/search/export", web::get().to(search::export))
                .route("/boards", web::get().to(boards::list))
                .route("/boards/{id}", web::get().to(boards::board))
                .route("/alerts", web::get().to(alerts::list))
                .route("/consumers", web::get().to(consumers::audience))
                .route("/consumers/export", web::get().to(consumers::export))
                .route("/consumers/{id}", web::get().to(consumers::get))
                .route("/consumer-tags", web::get().to(consumers::tags))
                .route("/followups", web::get().to(followups::list))
                .route("/followups/stats", web::get().to(followups::stats))
                .route("/followups/{id}", web::get().to(followups::get))
                .route("/followups/{id}", web::patch().to(followups::update))
                .route("/tags", web::get().to(tags))
                .route("/keys", web::get().to(keys::list))
                .route("/keys", web::post().to(keys::create))
                .route("/keys/{id}", web::delete().to(keys::revoke)),
        )
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::not_found("no such endpoint"))
        }));
}

/// Liveness and backlog, summed over the open tenants: unauthenticated, so
/// it names no tenant.
async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let tenants = state.tenants.clone();
    let (queue, outbox, indexed_documents, projection_backlog) =
        blocking(move || -> Result<_, crate::store::StoreError> {
            let mut outbox: std::collections::BTreeMap<String, crate::store::outbox::OutboxCounts> =
                Default::default();
            let mut documents = 0;
            for runtime in tenants.opened() {
                for (target, counts) in runtime.store.outbox_counts()? {
                    outbox.entry(target).or_default().add(&counts);
                }
                documents += runtime.index.num_docs();
            }
            Ok((
                tenants.queue_totals()?,
                outbox,
                documents,
                tenants.projection_backlog()?,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "outbox": outbox,
        "analyser_version": state.analyser.version(),
        "queue": queue,
        "indexed_documents": indexed_documents,
        "projections": {"backlog": projection_backlog},
    })))
}

async fn tags(state: web::Data<AppState>, _caller: auth::Authorised<auth::Read>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "lexicon_version": state.analyser.lexicon().version,
        "tags": state.analyser.lexicon().tags,
    }))
}
