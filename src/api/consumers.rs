//! `GET /api/v1/consumers/{id}`, `GET /api/v1/consumers` (audiences),
//! `GET /api/v1/consumers/export`, `GET /api/v1/consumer-tags`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::auth::{Authorised, Read};
use super::error::ApiError;
use super::params::{self, non_empty};
use super::AppState;
use crate::consumers::{self, AudienceRequest};
use crate::index::search::{Filters, SearchRequest, SortOrder};

pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1_000;
pub const RECENT_ITEMS: usize = 10;
/// Export pages through the audience this many consumers at a time.
const EXPORT_PAGE: usize = 5_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileParams {
    /// `true` when the id in the path is already the stored (hashed) form.
    hashed: Option<String>,
}

pub async fn get(
    state: web::Data<AppState>,
    tenant: Authorised<Read>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let profile_params: ProfileParams = params::parse_query(request.query_string())?;
    let raw_id = path.into_inner();
    let already_hashed = params::one_of("hashed", profile_params.hashed, &["true", "false"])?
        .as_deref()
        == Some("true");
    let consumer_id = if already_hashed {
        raw_id
    } else {
        tenant.consumer_ids.stored(&raw_id)
    };
    let app_state = tenant.tenant.clone();
    let (view, recent) = super::blocking(move || -> Result<_, ApiError> {
        let rules = &app_state.consumers.rules;
        let view = consumers::consumer_view(
            &app_state.store,
            rules,
            &consumer_id,
            crate::time::now_unix(),
        )?;
        let recent = app_state.index.search(&SearchRequest {
            text: None,
            filters: Filters {
                consumer_id: Some(consumer_id.clone()),
                ..Filters::default()
            },
            sort: SortOrder::Newest,
            limit: RECENT_ITEMS,
            offset: 0,
        })?;
        Ok((view, recent.hits))
    })
    .await?;
    let offset = state.settings.utc_offset_seconds();
    let rules = &tenant.consumers.rules;
    let mut body = serde_json::to_value(&view).map_err(super::error::internal)?;
    body["tags"] = json!(view
        .profile
        .tags
        .iter()
        .map(|tag| {
            let rule = rules.find(&tag.id);
            json!({
                "id": tag.id,
                "name": tag.name,
                "name_en": rule.and_then(|rule| rule.name_en.clone()),
                "definition": rule.map(|rule| rule.definition.clone()),
                "strength": tag.strength,
                "since": view.tag_since.get(&tag.id).map(|since| crate::time::format_rfc3339(*since, offset)),
            })
        })
        .collect::<Vec<_>>());
    if let Some(object) = body.as_object_mut() {
        object.remove("tag_since");
    }
    for key in ["first_feedback_at", "last_feedback_at", "updated_at"] {
        if let Some(at) = body[key].as_i64() {
            body[key] = json!(crate::time::format_rfc3339(at, offset));
        }
    }
    if let Some(at) = body["last_negative"]["at"].as_i64() {
        body["last_negative"]["at"] = json!(crate::time::format_rfc3339(at, offset));
    }
    body["recent"] = json!(recent
        .iter()
        .map(|hit| {
            let mut hit = serde_json::to_value(hit).unwrap_or_default();
            if let Some(at) = hit["created_at"].as_i64() {
                hit["created_at"] = json!(crate::time::format_rfc3339(at, offset));
            }
            hit
        })
        .collect::<Vec<_>>());
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudienceParams {
    tag: Option<String>,
    min_count: Option<String>,
    updated_since: Option<String>,
    after: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

impl AudienceParams {
    fn into_request(
        self,
        offset_seconds: i64,
        default_limit: usize,
    ) -> Result<AudienceRequest, ApiError> {
        let tag = non_empty(self.tag).ok_or_else(|| {
            ApiError::bad_parameter("tag", "tag is required (id or name, e.g. 物流敏感)")
        })?;
        Ok(AudienceRequest {
            tag,
            min_count: params::number("min_count", self.min_count, 0, u64::MAX)?.unwrap_or(0),
            updated_since: params::instant("updated_since", self.updated_since, offset_seconds)?,
            after: non_empty(self.after),
            limit: params::number("limit", self.limit, 1, MAX_PAGE)?.unwrap_or(default_limit),
        })
    }
}

fn audience_row_json(row: &crate::store::consumers::AudienceRow, offset: i64) -> serde_json::Value {
    json!({
        "consumer_id": row.consumer_id,
        "strength": row.strength,
        "since": crate::time::format_rfc3339(row.since, offset),
        "last_feedback_at": crate::time::format_rfc3339(row.last_feedback_at, offset),
        "updated_at": crate::time::format_rfc3339(row.updated_at, offset),
        "tags": row.tags,
    })
}

pub async fn audience(
    state: web::Data<AppState>,
    tenant: Authorised<Read>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let audience_params: AudienceParams = params::parse_query(request.query_string())?;
    if audience_params.format.is_some() {
        return Err(ApiError::bad_parameter(
            "format",
            "format is for /api/v1/consumers/export",
        ));
    }
    let offset = state.settings.utc_offset_seconds();
    let audience_request = audience_params.into_request(offset, DEFAULT_PAGE)?;
    let limit = audience_request.limit;
    let app_state = tenant.tenant.clone();
    let (tag, rows) = super::blocking(move || {
        consumers::audience(
            &app_state.store,
            &app_state.consumers.rules,
            &audience_request,
        )
    })
    .await?;
    let next_after = (rows.len() == limit)
        .then(|| rows.last().map(|row| row.consumer_id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({
        "tag": tag,
        "consumers": rows.iter().map(|row| audience_row_json(row, offset)).collect::<Vec<_>>(),
        "next_after": next_after,
    })))
}

/// The whole audience as CSV (UTF-8 with BOM, for Excel) or JSON lines.
pub async fn export(
    state: web::Data<AppState>,
    tenant: Authorised<Read>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut audience_params: AudienceParams = params::parse_query(request.query_string())?;
    let format = params::one_of("format", audience_params.format.take(), &["csv", "jsonl"])?
        .unwrap_or_else(|| "csv".into());
    if audience_params.limit.is_some() || audience_params.after.is_some() {
        return Err(ApiError::bad_parameter(
            "limit",
            "an export has every consumer of the audience; page with /api/v1/consumers",
        ));
    }
    let offset = state.settings.utc_offset_seconds();
    let mut audience_request = audience_params.into_request(offset, EXPORT_PAGE)?;
    let app_state = tenant.tenant.clone();
    let csv = format == "csv";
    let (tag, body) = super::blocking(move || -> Result<_, ApiError> {
        let mut body: Vec<u8> = Vec::new();
        if csv {
            body.extend_from_slice(
                "\u{feff}consumer_id,tag,strength,since,last_feedback_at,updated_at,tags\n"
                    .as_bytes(),
            );
        }
        let mut tag: String;
        loop {
            let (tag_id, rows) = consumers::audience(
                &app_state.store,
                &app_state.consumers.rules,
                &audience_request,
            )?;
            tag = tag_id;
            for row in &rows {
                if csv {
                    let fields = [
                        row.consumer_id.clone(),
                        tag.clone(),
                        row.strength.to_string(),
                        crate::time::format_rfc3339(row.since, offset),
                        crate::time::format_rfc3339(row.last_feedback_at, offset),
                        crate::time::format_rfc3339(row.updated_at, offset),
                        row.tags.join(";"),
                    ];
                    let line: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
                    body.extend_from_slice(line.join(",").as_bytes());
                    body.push(b'\n');
                } else {
                    let mut line = audience_row_json(row, offset);
                    line["tag"] = json!(tag);
                    body.extend_from_slice(line.to_string().as_bytes());
                    body.push(b'\n');
                }
            }
            if rows.len() < audience_request.limit {
                break;
            }
            audience_request.after = rows.last().map(|row| row.consumer_id.clone());
        }
        Ok((tag, body))
    })
    .await?;
    let (content_type, extension) = if csv {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/x-ndjson", "jsonl")
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"audience-{tag}.{extension}\""),
        ))
        .body(body))
}

/// RFC 4180 quoting; a leading formula character is neutralised so a
/// consumer id cannot run as a spreadsheet formula.
fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

pub async fn tags(tenant: Authorised<Read>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "tags": tenant.consumers.rules.rules }))
}
