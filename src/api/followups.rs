//! `GET /api/v1/followups`, `GET /api/v1/followups/stats`,
//! `GET|PATCH /api/v1/followups/{id}`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{Authorised, Read};
use super::error::ApiError;
use super::params::{self, non_empty};
use super::AppState;
use crate::followups::severity::Severity;
use crate::followups::{
    FollowupStatus, FollowupUpdate, Followups, ListQuery, DEFAULT_PAGE, MAX_PAGE,
};
use crate::tenants::TenantRuntime;

/// Largest `PATCH` body: a note of 2,000 characters and a little more.
const MAX_PATCH_BYTES: usize = 64 * 1024;
const MAX_OFFSET: usize = 1_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<String>,
    assignee: Option<String>,
    min_severity: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    from: Option<String>,
    to: Option<String>,
}

fn followup_id(path: web::Path<String>) -> Result<i64, ApiError> {
    path.into_inner()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_parameter("id", "id must be a positive integer"))
}

pub async fn list(
    state: web::Data<AppState>,
    tenant: Authorised<Read>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let list_params: ListParams = params::parse_query(request.query_string())?;
    let offset_seconds = state.settings.utc_offset_seconds();
    let status_names: Vec<&str> = FollowupStatus::ALL
        .iter()
        .map(|status| status.as_str())
        .collect();
    let query = ListQuery {
        status: params::one_of("status", list_params.status, &status_names)?
            .as_deref()
            .and_then(FollowupStatus::parse),
        assignee: non_empty(list_params.assignee),
        min_severity: non_empty(list_params.min_severity)
            .map(|value| {
                value.parse::<Severity>().map_err(|message| {
                    ApiError::bad_parameter("min_severity", format!("min_severity: {message}"))
                })
            })
            .transpose()?,
        from: params::instant("from", list_params.from, offset_seconds)?,
        to: params::instant("to", list_params.to, offset_seconds)?,
        limit: params::number("limit", list_params.limit, 0, MAX_PAGE)?.unwrap_or(DEFAULT_PAGE),
        offset: params::number("offset", list_params.offset, 0, MAX_OFFSET)?.unwrap_or(0),
    };
    let (app_state, runtime) = (state.clone(), tenant.tenant.clone());
    let page = super::blocking(move || followups_of(&app_state, &runtime).list(&query)).await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn stats(
    state: web::Data<AppState>,
    tenant: Authorised<Read>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let stats_params: StatsParams = params::parse_query(request.query_string())?;
    let offset_seconds = state.settings.utc_offset_seconds();
    let from = params::instant("from", stats_params.from, offset_seconds)?;
    let to = params::instant("to", stats_params.to, offset_seconds)?;
    let store = tenant.store.clone();
    let stats = super::blocking(move || crate::followups::stats(&store, from, to)).await?;
    Ok(HttpResponse::Ok().json(stats))
}

pub async fn get(
    state: web::Data<AppState>,
    tenant: Authorised<Read>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = followup_id(path)?;
    let (app_state, runtime) = (state.clone(), tenant.tenant.clone());
    let followup = super::blocking(move || followups_of(&app_state, &runtime).get(id)).await?;
    Ok(HttpResponse::Ok().json(followup))
}

pub async fn update(
    state: web::Data<AppState>,
    tenant: Authorised<Read>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = followup_id(path)?;
    let body = super::read_body(payload, MAX_PATCH_BYTES).await?;
    let update = FollowupUpdate::from_json(&body)?;
    let (app_state, runtime) = (state.clone(), tenant.tenant.clone());
    let followup = super::blocking(move || {
        followups_of(&app_state, &runtime).update(id, &update, crate::time::now_unix())
    })
    .await?;
    Ok(HttpResponse::Ok().json(followup))
}

fn followups_of<'a>(state: &'a AppState, tenant: &'a TenantRuntime) -> Followups<'a> {
    Followups {
        store: &tenant.store,
        tags: &state.analyser.lexicon().tags,
        utc_offset_seconds: state.settings.utc_offset_seconds(),
    }
}
