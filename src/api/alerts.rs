//! `GET /api/v1/alerts`: the alert history, newest first. `fired_at` is
//! RFC 3339 in the deployment's time zone, `fired_at_unix` the same instant
//! in Unix seconds; `deliveries` says per notifier whether the message
//! went out (`pending`, `retrying` with `attempts` and `last_error`, or
//! `delivered`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{Authorised, Read};
use super::error::ApiError;
use super::params::{self, non_empty};
use super::AppState;
use crate::store::alerts::AlertQuery;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;
pub const MAX_OFFSET: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    from: Option<String>,
    to: Option<String>,
    rule: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    tenant: Authorised<Read>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let alert_params: AlertParams = params::parse_query(request.query_string())?;
    let offset_seconds = state.settings.utc_offset_seconds();
    let query = AlertQuery {
        from: params::instant("from", alert_params.from, offset_seconds)?,
        to: params::instant("to", alert_params.to, offset_seconds)?,
        rule: non_empty(alert_params.rule),
        limit: params::number("limit", alert_params.limit, 0, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT),
        offset: params::number("offset", alert_params.offset, 0, MAX_OFFSET)?.unwrap_or(0),
    };
    let store = tenant.store.clone();
    let page = super::blocking(move || store.alert_history(&query)).await?;
    let alerts: Vec<serde_json::Value> = page
        .alerts
        .into_iter()
        .map(|entry| {
            let fired_at_unix = entry.record.fired_at;
            let mut view = serde_json::json!(entry.record);
            view["deliveries"] = serde_json::json!(entry.deliveries);
            view["fired_at"] =
                serde_json::json!(crate::time::format_rfc3339(fired_at_unix, offset_seconds));
            view["fired_at_unix"] = serde_json::json!(fired_at_unix);
            view
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "total": page.total,
        "alerts": alerts,
    })))
}
