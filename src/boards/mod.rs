//! Board data: the numbers a customer-service manager or a product team
//! watches, for the boards declared in `<dashboards_dir>/boards/`
//! ([`definition`]).
//!
//! A board answer has the board's definition, its period (and the previous
//! period of equal length), its filters, and one data object per widget
//! ([`widgets`]). It also carries the period summary of the core issue board
//! (volume, negative rate, tag mentions per library and per tag by polarity,
//! top negative tags, refund reasons, a series by local day or week, and the
//! same for the previous period), which `GET /api/v1/boards/issues` has
//! always answered.
//!
//! Every number of a board, current and previous period, comes from one
//! pass of the index collector: the query covers both periods and the
//! collector splits documents by `created_at`. A board with a `library`
//! counts only items with a mention of that library, and only that
//! library's tags.

pub mod alert_hook;
pub mod definition;
pub mod followup_hook;
mod summary;
mod widgets;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::index::aggregate::{PairSpec, SeriesSpec, TermFilter, Window};
use crate::index::schema;
use crate::index::search::Filters;
use crate::index::{FeedbackIndex, IndexError};
use crate::nlp::lexicon::TagDefinition;
use crate::time::{local_day_start, SECONDS_PER_DAY};
use alert_hook::{AlertSource, AlertSourceError};
use definition::{BoardDefinition, HeatmapDimension, SplitBy, WidgetKind};
use followup_hook::{FollowupSource, FollowupSourceError};
pub use summary::{
    PeriodStats, PeriodSummary, PolarityCounts, ReasonTagCount, RefundReasonCounts, SeriesPoint,
    TagCounts, TopNegativeTag,
};
pub use widgets::WidgetData;

pub const DEFAULT_PERIOD_DAYS: i64 = 30;
pub const MAX_BUCKETS: i64 = 400;
pub const TOP_NEGATIVE_TAGS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("{message}")]
    InvalidPeriod {
        field: &'static str,
        message: String,
    },
    #[error("no board {0:?}; GET /api/v1/boards lists them")]
    UnknownBoard(String),
    #[error("follow-up queue: {0}")]
    Followups(FollowupSourceError),
    #[error("alert history: {0}")]
    Alerts(AlertSourceError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    #[default]
    Day,
    Week,
}

impl Interval {
    fn seconds(self) -> i64 {
        match self {
            Interval::Day => SECONDS_PER_DAY,
            Interval::Week => 7 * SECONDS_PER_DAY,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct BoardQuery {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub interval: Interval,
    /// Only source, channel, sku, category and product_name are used.
    pub filters: Filters,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PeriodInfo {
    pub from: String,
    pub to: String,
    pub previous_from: String,
    pub previous_to: String,
    pub interval: Interval,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FilterInfo {
    pub source: Option<String>,
    pub channel: Option<String>,
    pub sku: Option<String>,
    pub category: Option<String>,
    pub product_name: Option<String>,
    pub library: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BoardAnswer {
    pub board: BoardDefinition,
    pub period: PeriodInfo,
    pub filters: FilterInfo,
    pub widgets: BTreeMap<String, WidgetData>,
    #[serde(flatten)]
    pub summary: PeriodSummary,
}

/// The resolved time bounds of a board request, Unix seconds, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: i64,
    pub to: i64,
    pub previous_from: i64,
}

impl Period {
    /// Default: the 30 local days up to and including today. The previous
    /// period has the same length and ends where this one starts.
    pub fn resolve(
        query: &BoardQuery,
        now: i64,
        utc_offset_seconds: i64,
    ) -> Result<Period, BoardError> {
        let to = query
            .to
            .unwrap_or_else(|| local_day_start(now, utc_offset_seconds) + SECONDS_PER_DAY);
        let from = query
            .from
            .unwrap_or(to - DEFAULT_PERIOD_DAYS * SECONDS_PER_DAY);
        if from >= to {
            return Err(BoardError::InvalidPeriod {
                field: "from",
                message: "from must be before to".into(),
            });
        }
        let length = to - from;
        if length / query.interval.seconds() > MAX_BUCKETS {
            return Err(BoardError::InvalidPeriod {
                field: "interval",
                message: format!("the period spans more than {MAX_BUCKETS} intervals; use interval=week or a shorter period"),
            });
        }
        Ok(Period {
            from,
            to,
            previous_from: from - length,
        })
    }
}

/// What one board pass counts, gathered from its widgets. Pairs are asked
/// for once even when two widgets need them.
#[derive(Debug, Default)]
struct CountPlan {
    count_fields: Vec<&'static str>,
    pairs: Vec<PairSpec>,
}

impl CountPlan {
    fn count(&mut self, field: &'static str) {
        if !self.count_fields.contains(&field) {
            self.count_fields.push(field);
        }
    }

    fn pair(&mut self, spec: PairSpec) -> usize {
        if let Some(position) = self.pairs.iter().position(|known| *known == spec) {
            return position;
        }
        self.pairs.push(spec);
        self.pairs.len() - 1
    }
}

pub(crate) fn split_field(by: SplitBy) -> &'static str {
    match by {
        SplitBy::Source => schema::SOURCE,
        SplitBy::Channel => schema::CHANNEL,
    }
}

pub(crate) fn heatmap_field(dimension: HeatmapDimension) -> &'static str {
    match dimension {
        HeatmapDimension::Sku => schema::SKU,
        HeatmapDimension::Category => schema::CATEGORY,
        HeatmapDimension::ProductName => schema::PRODUCT_NAME,
    }
}

pub(crate) fn negative_items_pair(field: &'static str) -> PairSpec {
    PairSpec {
        rows: field,
        row_terms: TermFilter::Any,
        columns: schema::SENTIMENT,
        column_terms: TermFilter::Exactly("neg".into()),
    }
}

pub(crate) fn negative_mentions_pair(field: &'static str, library: Option<&str>) -> PairSpec {
    PairSpec {
        rows: field,
        row_terms: TermFilter::Any,
        columns: schema::TAG_POLARITY,
        column_terms: TermFilter::Affixes {
            prefix: library.map_or_else(String::new, |library| format!("{library}.")),
            suffix: ":neg".into(),
        },
    }
}

pub(crate) fn negative_keywords_pair() -> PairSpec {
    PairSpec {
        rows: schema::SENTIMENT,
        row_terms: TermFilter::Exactly("neg".into()),
        columns: schema::KEYWORD,
        column_terms: TermFilter::Any,
    }
}

pub struct Boards<'a> {
    pub index: &'a FeedbackIndex,
    pub tags: &'a [TagDefinition],
    pub utc_offset_seconds: i64,
    pub followups: &'a dyn FollowupSource,
    pub alerts: &'a dyn AlertSource,
}

impl Boards<'_> {
    pub fn board(
        &self,
        definition: &BoardDefinition,
        query: &BoardQuery,
        now: i64,
    ) -> Result<BoardAnswer, BoardError> {
        let offset = self.utc_offset_seconds;
        let period = Period::resolve(query, now, offset)?;
        let library = definition.library.as_deref();
        let mut plan = CountPlan::default();
        for field in [
            schema::SENTIMENT,
            schema::TAG_POLARITY,
            schema::LIBRARY_POLARITY,
            schema::REASON_CODE,
            schema::REASON_TAG,
        ] {
            plan.count(field);
        }
        for widget in &definition.widgets {
            match &widget.kind {
                WidgetKind::Split(options) => {
                    plan.count(split_field(options.by));
                    plan.pair(negative_items_pair(split_field(options.by)));
                }
                WidgetKind::Heatmap(options) => {
                    plan.pair(negative_mentions_pair(
                        heatmap_field(options.dimension),
                        library,
                    ));
                }
                WidgetKind::Keywords(_) => {
                    plan.pair(negative_keywords_pair());
                }
                _ => {}
            }
        }
        let filters = Filters {
            source: query.filters.source.clone(),
            channel: query.filters.channel.clone(),
            sku: query.filters.sku.clone(),
            category: query.filters.category.clone(),
            product_name: query.filters.product_name.clone(),
            library: definition.library.clone(),
            from: Some(period.previous_from),
            to: Some(period.to),
            ..Filters::default()
        };
        // Widgets show pairs (heat maps, keywords, splits) for the current
        // period only; the previous period needs the summary counts.
        let mut current_window = self.window(period.from, period.to, query.interval);
        current_window.pairs = plan.pairs.clone();
        let windows = vec![
            current_window,
            self.window(period.previous_from, period.from, query.interval),
        ];
        let started = std::time::Instant::now();
        let mut stats = self
            .index
            .stats(&filters, plan.count_fields.clone(), windows)?;
        let counted = started.elapsed();
        let previous_stats = stats.pop().unwrap_or_default();
        let current_stats = stats.pop().unwrap_or_default();
        let current = self.summarise(
            &current_stats,
            period.from,
            period.to,
            query.interval,
            library,
        );
        let previous = self.summarise(
            &previous_stats,
            period.previous_from,
            period.from,
            query.interval,
            library,
        );
        let top_negative_tags = summary::top_negative_tags(&current, &previous);
        let summary = PeriodSummary {
            current,
            interval: query.interval,
            top_negative_tags,
            previous,
        };
        let context = widgets::Context {
            summary: &summary,
            current: &current_stats,
            pairs: &plan.pairs,
            library,
            tags: self.tags,
            period,
            followups: self.followups,
            alerts: self.alerts,
        };
        let mut widget_data = BTreeMap::new();
        for widget in &definition.widgets {
            widget_data.insert(widget.id.clone(), context.data(&widget.kind)?);
        }
        tracing::debug!(
            board = %definition.id,
            count_ms = counted.as_secs_f64() * 1000.0,
            total_ms = started.elapsed().as_secs_f64() * 1000.0,
            "board computed"
        );
        Ok(BoardAnswer {
            board: definition.clone(),
            period: PeriodInfo {
                from: crate::time::format_rfc3339(period.from, offset),
                to: crate::time::format_rfc3339(period.to, offset),
                previous_from: crate::time::format_rfc3339(period.previous_from, offset),
                previous_to: crate::time::format_rfc3339(period.from, offset),
                interval: query.interval,
            },
            filters: FilterInfo {
                source: query.filters.source.clone(),
                channel: query.filters.channel.clone(),
                sku: query.filters.sku.clone(),
                category: query.filters.category.clone(),
                product_name: query.filters.product_name.clone(),
                library: definition.library.clone(),
            },
            widgets: widget_data,
            summary,
        })
    }

    /// Buckets start at local midnight of the window's first day.
    fn window(&self, from: i64, to: i64, interval: Interval) -> Window {
        let bucket_start = local_day_start(from, self.utc_offset_seconds);
        let bucket_seconds = interval.seconds();
        let buckets = ((to - bucket_start + bucket_seconds - 1) / bucket_seconds).max(1) as usize;
        Window {
            from,
            to,
            series: Some(SeriesSpec {
                start: bucket_start,
                bucket_seconds,
                buckets,
                fields: vec![schema::LIBRARY_POLARITY, schema::SENTIMENT],
            }),
            pairs: Vec::new(),
        }
    }
}

pub(crate) fn tag_name(tags: &[TagDefinition], tag_id: &str) -> String {
    tags.iter()
        .find(|definition| definition.id == tag_id)
        .map_or_else(|| tag_id.to_string(), |definition| definition.name.clone())
}

/// `part / whole`, 0 when there is no whole.
pub(crate) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
