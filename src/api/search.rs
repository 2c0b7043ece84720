//! `GET /api/v1/search`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::params::{self, non_empty};
use super::AppState;
use crate::index::search::{Filters, SearchRequest, SortOrder};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
pub const MAX_OFFSET: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    q: Option<String>,
    tag: Option<String>,
    library: Option<String>,
    polarity: Option<String>,
    sentiment: Option<String>,
    source: Option<String>,
    channel: Option<String>,
    reason_code: Option<String>,
    sku: Option<String>,
    category: Option<String>,
    consumer_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    sort: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

impl SearchParams {
    fn into_request(self, offset_seconds: i64) -> Result<SearchRequest, ApiError> {
        let filters = Filters {
            tag: non_empty(self.tag),
            library: non_empty(self.library),
            polarity: params::one_of("polarity", self.polarity, &["pos", "neg", "neu"])?,
            sentiment: params::one_of("sentiment", self.sentiment, &["pos", "neg", "neu"])?,
            source: params::one_of("source", self.source, &params::SOURCES)?,
            channel: non_empty(self.channel),
            sku: non_empty(self.sku),
            category: non_empty(self.category),
            consumer_id: non_empty(self.consumer_id),
            reason_code: non_empty(self.reason_code),
            from: params::instant("from", self.from, offset_seconds)?,
            to: params::instant("to", self.to, offset_seconds)?,
        };
        let sort = match params::one_of("sort", self.sort, &["relevance", "newest"])?.as_deref() {
            Some("newest") => SortOrder::Newest,
            _ => SortOrder::Relevance,
        };
        Ok(SearchRequest {
            text: non_empty(self.q),
            filters,
            sort,
            limit: params::number("limit", self.limit, 0, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT),
            offset: params::number("offset", self.offset, 0, MAX_OFFSET)?.unwrap_or(0),
        })
    }
}

pub async fn search(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let search_params: SearchParams = params::parse_query(request.query_string())?;
    let search_request = search_params.into_request(state.settings.utc_offset_seconds())?;
    let index = state.index.clone();
    let result = super::blocking(move || index.search(&search_request)).await?;
    let offset_seconds = state.settings.utc_offset_seconds();
    let mut body = serde_json::to_value(&result).map_err(super::error::internal)?;
    if let Some(hits) = body["hits"].as_array_mut() {
        for hit in hits {
            if let Some(created_at) = hit["created_at"].as_i64() {
                hit["created_at"] =
                    serde_json::json!(crate::time::format_rfc3339(created_at, offset_seconds));
            }
        }
    }
    Ok(HttpResponse::Ok().json(body))
}
