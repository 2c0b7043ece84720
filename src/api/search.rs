//! `GET /api/v1/search` and `GET /api/v1/search/export` (the same result
//! set as CSV). Both refuse a query over the configured limits
//! (`max_query_chars`, `max_query_terms`) with 400 naming `q`.

use std::io::Write;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{Authorised, Read};
use super::error::ApiError;
use super::params::{self, non_empty};
use super::AppState;
use crate::index::search::{Filters, SearchRequest, SortOrder};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
pub const MAX_OFFSET: usize = 10_000;
/// Bytes of CSV gathered before a chunk goes to the client.
const EXPORT_CHUNK_BYTES: usize = 64 * 1024;
/// Chunks in flight between the writing thread and the connection.
const EXPORT_CHUNKS_IN_FLIGHT: usize = 4;

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
    product_name: Option<String>,
    consumer_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    sort: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    /// Export only.
    format: Option<String>,
}

/// `name` was given where it does not belong, refused like an unknown one.
fn not_here(name: &str, value: &Option<String>, why: &str) -> Result<(), ApiError> {
    match value {
        Some(_) => Err(ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "unknown_parameter",
            format!("unknown field `{name}`: {why}"),
            Some(name),
        )),
        None => Ok(()),
    }
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
            product_name: non_empty(self.product_name),
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
    tenant: Authorised<Read>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let search_params: SearchParams = params::parse_query(request.query_string())?;
    not_here(
        "format",
        &search_params.format,
        "only the export takes a format",
    )?;
    let search_request = search_params.into_request(state.settings.utc_offset_seconds())?;
    let query_limits = state.settings.query_limits();
    let (app_state, runtime) = (state.clone(), tenant.tenant.clone());
    let result = super::blocking(move || {
        if let Some(text) = &search_request.text {
            runtime.index.check_query(text, &query_limits)?;
        }
        let mut result = runtime.index.search(&search_request)?;
        result.name_tags(&app_state.analyser.lexicon().tags);
        Ok::<_, crate::index::IndexError>(result)
    })
    .await?;
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

/// The whole result set (up to 50,000 rows) as CSV, streamed: a blocking
/// thread writes chunks into a bounded channel that the response drains, so
/// neither the executor nor memory holds the whole file.
pub async fn export(
    state: web::Data<AppState>,
    tenant: Authorised<Read>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let export_params: SearchParams = params::parse_query(request.query_string())?;
    not_here(
        "limit",
        &export_params.limit,
        "an export has every row (at most 50,000)",
    )?;
    not_here(
        "offset",
        &export_params.offset,
        "an export has every row (at most 50,000)",
    )?;
    params::one_of("format", export_params.format.clone(), &["csv"])?;
    let offset_seconds = state.settings.utc_offset_seconds();
    let search_request = export_params.into_request(offset_seconds)?;
    let index = tenant.index.clone();
    let query_limits = state.settings.query_limits();
    let export = super::blocking(move || {
        if let Some(text) = &search_request.text {
            index.check_query(text, &query_limits)?;
        }
        index.export(
            search_request.text.as_deref(),
            &search_request.filters,
            search_request.sort,
        )
    })
    .await?;
    let rows = export.rows();
    let (sender, mut receiver) =
        tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(EXPORT_CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut sink = ChunkSender {
            sender,
            buffer: Vec::with_capacity(EXPORT_CHUNK_BYTES),
        };
        if let Err(error) = export.write_csv(&mut sink, offset_seconds) {
            // Headers are gone already: the client sees a cut-off file.
            tracing::warn!(%error, rows, "CSV export stopped");
            let _ = sink
                .sender
                .blocking_send(Err(std::io::Error::other(error.to_string())));
        }
    });
    let body = futures_util::stream::poll_fn(move |context| receiver.poll_recv(context));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"xinsheng-export.csv\"",
        ))
        .insert_header(("X-Export-Rows", rows.to_string()))
        .streaming(body))
}

/// `io::Write` into the response channel, in chunks.
struct ChunkSender {
    sender: tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl ChunkSender {
    fn send_buffer(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = web::Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(EXPORT_CHUNK_BYTES),
        ));
        self.sender.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= EXPORT_CHUNK_BYTES {
            self.send_buffer()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buffer()
    }
}
