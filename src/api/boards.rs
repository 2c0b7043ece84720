//! `GET /api/v1/boards/issues`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::params::{self, non_empty};
use super::AppState;
use crate::boards::{BoardQuery, Boards, Interval};
use crate::index::search::Filters;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardParams {
    from: Option<String>,
    to: Option<String>,
    interval: Option<String>,
    source: Option<String>,
    channel: Option<String>,
    sku: Option<String>,
    category: Option<String>,
}

pub async fn issues(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let board_params: BoardParams = params::parse_query(request.query_string())?;
    let offset = state.settings.utc_offset_seconds();
    let query = BoardQuery {
        from: params::instant("from", board_params.from, offset)?,
        to: params::instant("to", board_params.to, offset)?,
        interval: match params::one_of("interval", board_params.interval, &["day", "week"])?
            .as_deref()
        {
            Some("week") => Interval::Week,
            _ => Interval::Day,
        },
        filters: Filters {
            source: params::one_of("source", board_params.source, &params::SOURCES)?,
            channel: non_empty(board_params.channel),
            sku: non_empty(board_params.sku),
            category: non_empty(board_params.category),
            ..Filters::default()
        },
    };
    let app_state = state.clone();
    let board = super::blocking(move || {
        let boards = Boards {
            index: &app_state.index,
            tags: &app_state.analyser.lexicon().tags,
            utc_offset_seconds: app_state.settings.utc_offset_seconds(),
        };
        boards.issue_board(&query, crate::time::now_unix())
    })
    .await?;
    Ok(HttpResponse::Ok().json(board))
}
