//! Board data: the numbers a customer-service manager watches.
//!
//! The issue board counts, for a period and optional source/channel/SKU/
//! category filters: volume, negative rate (share of items whose overall
//! sentiment is negative), tag mentions per library and per tag split by
//! polarity, top negative tags, and a time series per library by local day
//! or week. The same numbers for the previous period of equal length come
//! along so that a UI can show change. Every count comes from one pass of
//! the index collector per period.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::index::aggregate::{SeriesSpec, Stats};
use crate::index::schema;
use crate::index::search::Filters;
use crate::index::{FeedbackIndex, IndexError};
use crate::nlp::lexicon::TagDefinition;
use crate::time::{local_day_start, SECONDS_PER_DAY};

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
    /// Only source, channel, sku and category are used.
    pub filters: Filters,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PolarityCounts {
    pub pos: u64,
    pub neg: u64,
    pub neu: u64,
    pub total: u64,
}

impl PolarityCounts {
    fn from_terms(lookup: impl Fn(&str) -> u64, key: &str) -> PolarityCounts {
        let pos = lookup(&format!("{key}:pos"));
        let neg = lookup(&format!("{key}:neg"));
        let neu = lookup(&format!("{key}:neu"));
        PolarityCounts {
            pos,
            neg,
            neu,
            total: pos + neg + neu,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TagCounts {
    pub tag: String,
    pub library: String,
    pub name: String,
    #[serde(flatten)]
    pub counts: PolarityCounts,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopNegativeTag {
    pub tag: String,
    pub name: String,
    pub neg: u64,
    pub previous_neg: u64,
    pub change: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesPoint {
    /// RFC 3339 start of the bucket, in the board's time zone.
    pub start: String,
    pub volume: u64,
    pub negative: u64,
    pub libraries: BTreeMap<String, PolarityCounts>,
}

/// Refunds with one menu reason, and what their texts (or the reason's
/// prior) say went wrong.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RefundReasonCounts {
    pub reason: String,
    pub refunds: u64,
    /// Negative mentions per tag among these refunds, most first.
    pub tags: Vec<ReasonTagCount>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReasonTagCount {
    pub tag: String,
    pub name: String,
    pub neg: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PeriodStats {
    pub from: String,
    pub to: String,
    pub volume: u64,
    pub negative: u64,
    pub negative_rate: f64,
    pub libraries: BTreeMap<String, PolarityCounts>,
    pub tags: Vec<TagCounts>,
    pub refund_reasons: Vec<RefundReasonCounts>,
    pub series: Vec<SeriesPoint>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IssueBoard {
    #[serde(flatten)]
    pub current: PeriodStats,
    pub interval: Interval,
    pub top_negative_tags: Vec<TopNegativeTag>,
    pub previous: PeriodStats,
}

pub struct Boards<'a> {
    pub index: &'a FeedbackIndex,
    pub tags: &'a [TagDefinition],
    pub utc_offset_seconds: i64,
}

impl Boards<'_> {
    pub fn issue_board(&self, query: &BoardQuery, now: i64) -> Result<IssueBoard, BoardError> {
        let offset = self.utc_offset_seconds;
        let to = query
            .to
            .unwrap_or_else(|| local_day_start(now, offset) + SECONDS_PER_DAY);
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
        let current = self.period(query, from, to)?;
        let previous = self.period(query, from - length, from)?;
        let mut top_negative_tags: Vec<TopNegativeTag> = current
            .tags
            .iter()
            .filter(|tag| tag.counts.neg > 0)
            .map(|tag| {
                let previous_neg = previous
                    .tags
                    .iter()
                    .find(|earlier| earlier.tag == tag.tag)
                    .map_or(0, |earlier| earlier.counts.neg);
                TopNegativeTag {
                    tag: tag.tag.clone(),
                    name: tag.name.clone(),
                    neg: tag.counts.neg,
                    previous_neg,
                    change: tag.counts.neg as i64 - previous_neg as i64,
                }
            })
            .collect();
        top_negative_tags.sort_by(|a, b| b.neg.cmp(&a.neg).then_with(|| a.tag.cmp(&b.tag)));
        top_negative_tags.truncate(TOP_NEGATIVE_TAGS);
        Ok(IssueBoard {
            current,
            interval: query.interval,
            top_negative_tags,
            previous,
        })
    }

    fn period(&self, query: &BoardQuery, from: i64, to: i64) -> Result<PeriodStats, BoardError> {
        let offset = self.utc_offset_seconds;
        let filters = Filters {
            source: query.filters.source.clone(),
            channel: query.filters.channel.clone(),
            sku: query.filters.sku.clone(),
            category: query.filters.category.clone(),
            from: Some(from),
            to: Some(to),
            ..Filters::default()
        };
        let bucket_start = local_day_start(from, offset);
        let bucket_seconds = query.interval.seconds();
        let buckets = ((to - bucket_start + bucket_seconds - 1) / bucket_seconds).max(1) as usize;
        let series_spec = SeriesSpec {
            start: bucket_start,
            bucket_seconds,
            buckets,
            fields: vec![schema::LIBRARY_POLARITY, schema::SENTIMENT],
        };
        let stats = self.index.stats(
            &filters,
            vec![
                schema::SENTIMENT,
                schema::TAG_POLARITY,
                schema::LIBRARY_POLARITY,
                schema::LIBRARY,
                schema::REASON_CODE,
                schema::REASON_TAG,
            ],
            Some(series_spec),
        )?;
        Ok(self.summarise(&stats, from, to, bucket_start, bucket_seconds))
    }

    fn summarise(
        &self,
        stats: &Stats,
        from: i64,
        to: i64,
        bucket_start: i64,
        bucket_seconds: i64,
    ) -> PeriodStats {
        let offset = self.utc_offset_seconds;
        let negative = stats.count(schema::SENTIMENT, "neg");
        let libraries = self.library_counts(
            |term| stats.count(schema::LIBRARY_POLARITY, term),
            stats.counts.get(schema::LIBRARY),
        );
        let mut tags: Vec<TagCounts> = Vec::new();
        let mut seen_tag_ids: Vec<String> = Vec::new();
        for term in stats
            .counts
            .get(schema::TAG_POLARITY)
            .into_iter()
            .flat_map(|counts| counts.keys())
        {
            let Some((tag_id, _)) = term.rsplit_once(':') else {
                continue;
            };
            if seen_tag_ids.iter().any(|seen| seen == tag_id) {
                continue;
            }
            seen_tag_ids.push(tag_id.to_string());
            tags.push(TagCounts {
                tag: tag_id.to_string(),
                library: crate::feedback::library_of(tag_id).to_string(),
                name: self.tag_name(tag_id),
                counts: PolarityCounts::from_terms(
                    |term| stats.count(schema::TAG_POLARITY, term),
                    tag_id,
                ),
            });
        }
        tags.sort_by(|a, b| {
            b.counts
                .total
                .cmp(&a.counts.total)
                .then_with(|| a.tag.cmp(&b.tag))
        });
        let series = stats
            .series
            .iter()
            .enumerate()
            .map(|(position, bucket)| SeriesPoint {
                start: crate::time::format_rfc3339(
                    bucket_start + position as i64 * bucket_seconds,
                    offset,
                ),
                volume: bucket.docs,
                negative: bucket.count(schema::SENTIMENT, "neg"),
                libraries: self
                    .library_counts(|term| bucket.count(schema::LIBRARY_POLARITY, term), None),
            })
            .collect();
        PeriodStats {
            from: crate::time::format_rfc3339(from, offset),
            to: crate::time::format_rfc3339(to, offset),
            volume: stats.docs,
            negative,
            negative_rate: if stats.docs == 0 {
                0.0
            } else {
                negative as f64 / stats.docs as f64
            },
            libraries,
            tags,
            refund_reasons: self.refund_reasons(stats),
            series,
        }
    }

    fn refund_reasons(&self, stats: &Stats) -> Vec<RefundReasonCounts> {
        let Some(reasons) = stats.counts.get(schema::REASON_CODE) else {
            return Vec::new();
        };
        let reason_tags = stats.counts.get(schema::REASON_TAG);
        let mut rows: Vec<RefundReasonCounts> = reasons
            .iter()
            .map(|(reason, refunds)| {
                let prefix = format!("{reason}|");
                let mut tags: Vec<ReasonTagCount> = reason_tags
                    .into_iter()
                    .flat_map(|counts| counts.iter())
                    .filter_map(|(term, neg)| {
                        let tag = term.strip_prefix(&prefix)?;
                        Some(ReasonTagCount {
                            tag: tag.to_string(),
                            name: self.tag_name(tag),
                            neg: *neg,
                        })
                    })
                    .collect();
                tags.sort_by(|a, b| b.neg.cmp(&a.neg).then_with(|| a.tag.cmp(&b.tag)));
                RefundReasonCounts {
                    reason: reason.clone(),
                    refunds: *refunds,
                    tags,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.refunds
                .cmp(&a.refunds)
                .then_with(|| a.reason.cmp(&b.reason))
        });
        rows
    }

    fn tag_name(&self, tag_id: &str) -> String {
        self.tags
            .iter()
            .find(|definition| definition.id == tag_id)
            .map_or_else(|| tag_id.to_string(), |definition| definition.name.clone())
    }

    /// Every library of the lexicon appears, with zeros when quiet, so a
    /// chart never loses a line; libraries seen only in the index are added.
    fn library_counts(
        &self,
        lookup: impl Fn(&str) -> u64,
        seen: Option<&crate::index::aggregate::TermCounts>,
    ) -> BTreeMap<String, PolarityCounts> {
        let mut names: Vec<String> = self.tags.iter().map(|tag| tag.library.clone()).collect();
        names.extend(seen.into_iter().flat_map(|counts| counts.keys().cloned()));
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|library| {
                let counts = PolarityCounts::from_terms(&lookup, &library);
                (library, counts)
            })
            .collect()
    }
}
