//! The period summary: what the core issue board has always answered
//! (volume, negative rate, mentions per library and per tag by polarity,
//! refund reasons, a series by day or week, top negative tags), computed
//! from one window's counts. Widgets read their numbers from it too.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ratio, tag_name, Boards, Interval, TOP_NEGATIVE_TAGS};
use crate::index::aggregate::Stats;
use crate::index::schema;
use crate::time::local_day_start;

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

/// The core issue board's numbers: the current period flattened, the
/// previous one nested.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PeriodSummary {
    #[serde(flatten)]
    pub current: PeriodStats,
    pub interval: Interval,
    pub top_negative_tags: Vec<TopNegativeTag>,
    pub previous: PeriodStats,
}

impl Boards<'_> {
    pub(super) fn summarise(
        &self,
        stats: &Stats,
        from: i64,
        to: i64,
        interval: Interval,
        library: Option<&str>,
    ) -> PeriodStats {
        let offset = self.utc_offset_seconds;
        let bucket_start = local_day_start(from, offset);
        let bucket_seconds = interval.seconds();
        let in_library = |tag_id: &str| {
            library.is_none_or(|library| crate::feedback::library_of(tag_id) == library)
        };
        let negative = stats.count(schema::SENTIMENT, "neg");
        let libraries = self.library_counts(
            |term| stats.count(schema::LIBRARY_POLARITY, term),
            Some(stats),
            library,
        );
        let mut tags: Vec<TagCounts> = Vec::new();
        let mut seen_tag_ids: Vec<&str> = Vec::new();
        for (term, _) in stats.terms(schema::TAG_POLARITY) {
            let Some((tag_id, _)) = term.rsplit_once(':') else {
                continue;
            };
            if !in_library(tag_id) || seen_tag_ids.contains(&tag_id) {
                continue;
            }
            seen_tag_ids.push(tag_id);
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
                libraries: self.library_counts(
                    |term| bucket.count(schema::LIBRARY_POLARITY, term),
                    None,
                    library,
                ),
            })
            .collect();
        PeriodStats {
            from: crate::time::format_rfc3339(from, offset),
            to: crate::time::format_rfc3339(to, offset),
            volume: stats.docs,
            negative,
            negative_rate: ratio(negative, stats.docs),
            libraries,
            tags,
            refund_reasons: self.refund_reasons(stats, &in_library),
            series,
        }
    }

    fn refund_reasons(
        &self,
        stats: &Stats,
        in_library: &dyn Fn(&str) -> bool,
    ) -> Vec<RefundReasonCounts> {
        let mut rows: Vec<RefundReasonCounts> = stats
            .terms(schema::REASON_CODE)
            .map(|(reason, refunds)| {
                let prefix = format!("{reason}|");
                let mut tags: Vec<ReasonTagCount> = stats
                    .terms(schema::REASON_TAG)
                    .filter_map(|(term, neg)| {
                        let tag = term.strip_prefix(&prefix)?;
                        in_library(tag).then(|| ReasonTagCount {
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
        tag_name(self.tags, tag_id)
    }

    /// Every library of the lexicon appears (only the board's, on a library
    /// board), with zeros when quiet, so a chart never loses a line;
    /// libraries seen only in the index are added.
    fn library_counts(
        &self,
        lookup: impl Fn(&str) -> u64,
        seen_in: Option<&Stats>,
        only: Option<&str>,
    ) -> BTreeMap<String, PolarityCounts> {
        let mut names: Vec<String> = self.tags.iter().map(|tag| tag.library.clone()).collect();
        // "library:polarity" terms name the libraries the index has seen.
        names.extend(seen_in.into_iter().flat_map(|stats| {
            stats
                .terms(schema::LIBRARY_POLARITY)
                .filter_map(|(term, _)| {
                    term.rsplit_once(':')
                        .map(|(library, _)| library.to_string())
                })
        }));
        names.retain(|name| only.is_none_or(|only| only == name));
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

pub(super) fn top_negative_tags(
    current: &PeriodStats,
    previous: &PeriodStats,
) -> Vec<TopNegativeTag> {
    let mut rows: Vec<TopNegativeTag> = current
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
    rows.sort_by(|a, b| b.neg.cmp(&a.neg).then_with(|| a.tag.cmp(&b.tag)));
    rows.truncate(TOP_NEGATIVE_TAGS);
    rows
}
