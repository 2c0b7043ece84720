//! `GET /api/v1/boards` and `GET /api/v1/boards/{id}` (`issues` is the
//! core issue board, answered through the same path).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{Authorised, Read};
use super::error::ApiError;
use super::params::{self, non_empty};
use super::AppState;
use crate::boards::{BoardError, BoardQuery, Boards, Interval};
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
    product_name: Option<String>,
}

impl BoardParams {
    fn into_query(self, offset_seconds: i64) -> Result<BoardQuery, ApiError> {
        Ok(BoardQuery {
            from: params::instant("from", self.from, offset_seconds)?,
            to: params::instant("to", self.to, offset_seconds)?,
            interval: match params::one_of("interval", self.interval, &["day", "week"])?.as_deref()
            {
                Some("week") => Interval::Week,
                _ => Interval::Day,
            },
            filters: Filters {
                source: params::one_of("source", self.source, &params::SOURCES)?,
                channel: non_empty(self.channel),
                sku: non_empty(self.sku),
                category: non_empty(self.category),
                product_name: non_empty(self.product_name),
                ..Filters::default()
            },
        })
    }
}

pub async fn list(state: web::Data<AppState>, _caller: Authorised<Read>) -> HttpResponse {
    let boards: Vec<_> = state
        .boards
        .all()
        .iter()
        .map(|board| board.listing())
        .collect();
    HttpResponse::Ok().json(serde_json::json!({ "boards": boards }))
}

pub async fn board(
    state: web::Data<AppState>,
    tenant: Authorised<Read>,
    board_id: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let board_params: BoardParams = params::parse_query(request.query_string())?;
    let query = board_params.into_query(state.settings.utc_offset_seconds())?;
    let board_id = board_id.into_inner();
    let app_state = state.clone();
    let runtime = tenant.tenant.clone();
    let answer = super::blocking(move || {
        let definition = app_state
            .boards
            .get(&board_id)
            .ok_or_else(|| BoardError::UnknownBoard(board_id.clone()))?;
        let boards = Boards {
            index: &runtime.index,
            tags: &app_state.analyser.lexicon().tags,
            utc_offset_seconds: app_state.settings.utc_offset_seconds(),
            followups: runtime.followups.as_ref(),
            alerts: runtime.alerts.as_ref(),
        };
        boards.board(definition, &query, crate::time::now_unix())
    })
    .await?;
    Ok(HttpResponse::Ok().json(answer))
}
