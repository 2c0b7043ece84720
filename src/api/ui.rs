//! The web UI: `GET /` (index.html) and `GET /static/{path}`, from
//! `<dashboards_dir>/web/`. Security headers are added by the routes'
//! middleware (see `routes`), so error answers carry them too.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::AppState;
use crate::web_ui;

pub async fn index(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    serve(state, web_ui::INDEX_FILE.to_string()).await
}

pub async fn asset(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let request_path = request.match_info().query("tail").to_string();
    serve(state, request_path).await
}

async fn serve(state: web::Data<AppState>, request_path: String) -> Result<HttpResponse, ApiError> {
    let web_dir = web_ui::web_dir(&state.settings.dashboards_dir);
    let asset = super::blocking(move || web_ui::read(&web_dir, &request_path)).await?;
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        // Assets change with a deployment, not by version in the name: revalidate.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(asset.bytes))
}

/// The security headers as middleware for the UI's routes.
pub fn security_headers() -> actix_web::middleware::DefaultHeaders {
    web_ui::SECURITY_HEADERS.iter().fold(
        actix_web::middleware::DefaultHeaders::new(),
        |headers, (name, value)| headers.add((*name, *value)),
    )
}
