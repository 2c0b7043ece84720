//! The data of each widget type, computed from one board pass (the period
//! summaries and the current window's raw counts). Shapes are the contract
//! with the web UI (`/work/contract-ui.md`, README "Boards").

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::alert_hook::{AlertSource, AlertsWidget};
use super::definition::{
    HeatmapOptions, KeywordsOptions, KpiTilesOptions, PraiseComplaintOptions, RisingIssuesOptions,
    SplitBy, SplitOptions, WidgetKind,
};
use super::followup_hook::{FollowupPage, FollowupSource, FollowupStats};
use super::{
    heatmap_field, negative_items_pair, negative_keywords_pair, negative_mentions_pair, ratio,
    split_field, BoardError, Interval, Period, PeriodSummary, RefundReasonCounts, SeriesPoint,
    TagCounts,
};
use crate::index::aggregate::{PairCounts, PairSpec, Stats};
use crate::nlp::lexicon::TagDefinition;

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum WidgetData {
    KpiTiles {
        tiles: Vec<KpiTile>,
    },
    Trend {
        interval: Interval,
        series: Vec<SeriesPoint>,
    },
    TagRanking {
        rows: Vec<TagRankingRow>,
    },
    RisingIssues {
        min_count: u64,
        rows: Vec<RisingIssueRow>,
    },
    Split {
        by: SplitBy,
        rows: Vec<SplitRow>,
    },
    Heatmap(Heatmap),
    Keywords {
        rows: Vec<KeywordRow>,
    },
    PraiseComplaint {
        rows: Vec<PraiseComplaintRow>,
    },
    RefundReasons {
        rows: Vec<RefundReasonCounts>,
    },
    FollowupStats(FollowupStats),
    FollowupQueue(FollowupPage),
    Alerts(AlertsWidget),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KpiTile {
    /// `volume`, `negative_rate` or `satisfaction`.
    pub key: &'static str,
    pub library: Option<String>,
    pub value: f64,
    pub previous: f64,
    /// Volume: relative change (null when the previous period had none);
    /// rates: the difference (value - previous).
    pub change: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TagRankingRow {
    pub tag: String,
    pub name: String,
    pub library: String,
    pub neg: u64,
    pub previous_neg: u64,
    /// neg - previous_neg, in mentions.
    pub change: i64,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RisingIssueRow {
    pub tag: String,
    pub name: String,
    pub library: String,
    pub neg: u64,
    pub total: u64,
    pub share: f64,
    pub previous_share: f64,
    pub growth: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SplitRow {
    pub key: String,
    pub volume: u64,
    pub negative: u64,
    pub negative_rate: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeatmapColumn {
    pub tag: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Heatmap {
    pub dimension: super::definition::HeatmapDimension,
    pub rows: Vec<String>,
    pub columns: Vec<HeatmapColumn>,
    /// `[row index, column index, negative mentions]`, non-zero cells only.
    pub cells: Vec<[u64; 3]>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeywordRow {
    pub keyword: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PraiseComplaintRow {
    pub tag: String,
    pub name: String,
    pub library: String,
    pub pos: u64,
    pub neg: u64,
}

pub(super) struct Context<'a> {
    pub summary: &'a PeriodSummary,
    pub current: &'a Stats,
    pub pairs: &'a [PairSpec],
    pub library: Option<&'a str>,
    pub tags: &'a [TagDefinition],
    pub period: Period,
    pub followups: &'a dyn FollowupSource,
    pub alerts: &'a dyn AlertSource,
}

impl Context<'_> {
    pub fn data(&self, kind: &WidgetKind) -> Result<WidgetData, BoardError> {
        Ok(match kind {
            WidgetKind::KpiTiles(options) => self.kpi_tiles(options),
            WidgetKind::Trend(_) => WidgetData::Trend {
                interval: self.summary.interval,
                series: self.summary.current.series.clone(),
            },
            WidgetKind::TagRanking(options) => self.tag_ranking(options.limit),
            WidgetKind::RisingIssues(options) => self.rising_issues(options),
            WidgetKind::Split(options) => self.split(options),
            WidgetKind::Heatmap(options) => self.heatmap(options),
            WidgetKind::Keywords(options) => self.keywords(options),
            WidgetKind::PraiseComplaint(options) => self.praise_complaint(options),
            WidgetKind::RefundReasons(options) => WidgetData::RefundReasons {
                rows: self
                    .summary
                    .current
                    .refund_reasons
                    .iter()
                    .take(options.limit)
                    .cloned()
                    .collect(),
            },
            WidgetKind::FollowupStats(_) => WidgetData::FollowupStats(
                self.followups
                    .stats(self.period.from, self.period.to)
                    .map_err(BoardError::Followups)?,
            ),
            WidgetKind::FollowupQueue(options) => WidgetData::FollowupQueue(
                self.followups
                    .open_queue(options.limit)
                    .map_err(BoardError::Followups)?,
            ),
            WidgetKind::Alerts(options) => WidgetData::Alerts(
                self.alerts
                    .recent(self.period.from, self.period.to, options.limit)
                    .map_err(BoardError::Alerts)?,
            ),
        })
    }

    /// The counts of a pair the plan asked for (empty if it did not).
    fn pair(&self, spec: &PairSpec) -> Option<&PairCounts> {
        let position = self.pairs.iter().position(|known| known == spec)?;
        self.current.pairs.get(position)
    }

    fn kpi_tiles(&self, options: &KpiTilesOptions) -> WidgetData {
        let current = &self.summary.current;
        let previous = &self.summary.previous;
        let mut tiles = vec![
            KpiTile {
                key: "volume",
                library: None,
                value: current.volume as f64,
                previous: previous.volume as f64,
                change: (previous.volume > 0).then(|| {
                    (current.volume as f64 - previous.volume as f64) / previous.volume as f64
                }),
            },
            KpiTile {
                key: "negative_rate",
                library: None,
                value: current.negative_rate,
                previous: previous.negative_rate,
                change: Some(current.negative_rate - previous.negative_rate),
            },
        ];
        for library in &options.libraries {
            let satisfaction = |libraries: &BTreeMap<String, super::PolarityCounts>| {
                libraries
                    .get(library)
                    .map_or(0.0, |counts| ratio(counts.pos, counts.total))
            };
            let value = satisfaction(&current.libraries);
            let previous_value = satisfaction(&previous.libraries);
            tiles.push(KpiTile {
                key: "satisfaction",
                library: Some(library.clone()),
                value,
                previous: previous_value,
                change: Some(value - previous_value),
            });
        }
        WidgetData::KpiTiles { tiles }
    }

    fn previous_tag(&self, tag: &str) -> Option<&TagCounts> {
        self.summary
            .previous
            .tags
            .iter()
            .find(|earlier| earlier.tag == tag)
    }

    fn tag_ranking(&self, limit: usize) -> WidgetData {
        let mut rows: Vec<TagRankingRow> = self
            .summary
            .current
            .tags
            .iter()
            .filter(|tag| tag.counts.neg > 0)
            .map(|tag| {
                let previous_neg = self
                    .previous_tag(&tag.tag)
                    .map_or(0, |earlier| earlier.counts.neg);
                TagRankingRow {
                    tag: tag.tag.clone(),
                    name: tag.name.clone(),
                    library: tag.library.clone(),
                    neg: tag.counts.neg,
                    previous_neg,
                    change: tag.counts.neg as i64 - previous_neg as i64,
                    total: tag.counts.total,
                }
            })
            .collect();
        rows.sort_by(|a, b| b.neg.cmp(&a.neg).then_with(|| a.tag.cmp(&b.tag)));
        rows.truncate(limit);
        WidgetData::TagRanking { rows }
    }

    fn rising_issues(&self, options: &RisingIssuesOptions) -> WidgetData {
        let mut rows: Vec<RisingIssueRow> = self
            .summary
            .current
            .tags
            .iter()
            .filter(|tag| tag.counts.neg >= options.min_count)
            .filter_map(|tag| {
                let share = ratio(tag.counts.neg, tag.counts.total);
                let previous_share = self.previous_tag(&tag.tag).map_or(0.0, |earlier| {
                    ratio(earlier.counts.neg, earlier.counts.total)
                });
                let growth = share - previous_share;
                (growth > 0.0).then(|| RisingIssueRow {
                    tag: tag.tag.clone(),
                    name: tag.name.clone(),
                    library: tag.library.clone(),
                    neg: tag.counts.neg,
                    total: tag.counts.total,
                    share,
                    previous_share,
                    growth,
                })
            })
            .collect();
        rows.sort_by(|a, b| {
            b.growth
                .total_cmp(&a.growth)
                .then_with(|| b.neg.cmp(&a.neg))
                .then_with(|| a.tag.cmp(&b.tag))
        });
        rows.truncate(options.limit);
        WidgetData::RisingIssues {
            min_count: options.min_count,
            rows,
        }
    }

    fn split(&self, options: &SplitOptions) -> WidgetData {
        let field = split_field(options.by);
        let negatives = self.pair(&negative_items_pair(field));
        let mut rows: Vec<SplitRow> = self
            .current
            .terms(field)
            .map(|(key, volume)| {
                let negative = negatives.map_or(0, |pairs| pairs.get(key, "neg"));
                SplitRow {
                    key: key.clone(),
                    volume: *volume,
                    negative,
                    negative_rate: ratio(negative, *volume),
                }
            })
            .collect();
        rows.sort_by(|a, b| b.volume.cmp(&a.volume).then_with(|| a.key.cmp(&b.key)));
        WidgetData::Split {
            by: options.by,
            rows,
        }
    }

    fn heatmap(&self, options: &HeatmapOptions) -> WidgetData {
        let spec = negative_mentions_pair(heatmap_field(options.dimension), self.library);
        let empty = PairCounts::default();
        let cells_by_pair = self.pair(&spec).unwrap_or(&empty);
        let mut row_totals: HashMap<&str, u64> = HashMap::new();
        let mut column_totals: HashMap<&str, u64> = HashMap::new();
        for (row, column, count) in cells_by_pair.iter() {
            *row_totals.entry(row).or_default() += count;
            *column_totals.entry(column).or_default() += count;
        }
        let rows = top_keys(row_totals, options.rows);
        let column_terms = top_keys(column_totals, options.columns);
        let mut cells: Vec<[u64; 3]> = Vec::new();
        for (row_index, row) in rows.iter().enumerate() {
            for (column_index, column) in column_terms.iter().enumerate() {
                let count = cells_by_pair.get(row, column);
                if count > 0 {
                    cells.push([row_index as u64, column_index as u64, count]);
                }
            }
        }
        let columns = column_terms
            .iter()
            .map(|term| {
                let tag = term.strip_suffix(":neg").unwrap_or(term).to_string();
                HeatmapColumn {
                    name: self.tag_name(&tag),
                    tag,
                }
            })
            .collect();
        WidgetData::Heatmap(Heatmap {
            dimension: options.dimension,
            rows,
            columns,
            cells,
        })
    }

    fn tag_name(&self, tag: &str) -> String {
        super::tag_name(self.tags, tag)
    }

    fn keywords(&self, options: &KeywordsOptions) -> WidgetData {
        // One row term ("neg"): each cell is one keyword's count.
        let mut counts: Vec<(&str, u64)> = self
            .pair(&negative_keywords_pair())
            .into_iter()
            .flat_map(PairCounts::iter)
            .map(|(_, keyword, count)| (keyword, count))
            .collect();
        let order = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        // Tens of thousands of keywords, a few shown: select before sorting.
        if counts.len() > options.limit {
            counts.select_nth_unstable_by(options.limit, order);
            counts.truncate(options.limit);
        }
        counts.sort_by(order);
        let rows = counts
            .into_iter()
            .map(|(keyword, count)| KeywordRow {
                keyword: keyword.to_string(),
                count,
            })
            .collect();
        WidgetData::Keywords { rows }
    }

    fn praise_complaint(&self, options: &PraiseComplaintOptions) -> WidgetData {
        let row = |tag: &TagCounts| PraiseComplaintRow {
            tag: tag.tag.clone(),
            name: tag.name.clone(),
            library: tag.library.clone(),
            pos: tag.counts.pos,
            neg: tag.counts.neg,
        };
        let current_tags = &self.summary.current.tags;
        let rows = if options.tags.is_empty() {
            let mut ranked: Vec<PraiseComplaintRow> = current_tags
                .iter()
                .filter(|tag| tag.counts.pos + tag.counts.neg > 0)
                .map(row)
                .collect();
            ranked.sort_by(|a, b| {
                (b.pos + b.neg)
                    .cmp(&(a.pos + a.neg))
                    .then_with(|| a.tag.cmp(&b.tag))
            });
            ranked.truncate(options.limit);
            ranked
        } else {
            // Named tags keep their order and show zeros when quiet: a
            // product team compares the same aspects every time.
            options
                .tags
                .iter()
                .map(
                    |tag_id| match current_tags.iter().find(|tag| tag.tag == *tag_id) {
                        Some(tag) => row(tag),
                        None => PraiseComplaintRow {
                            tag: tag_id.clone(),
                            name: self.tag_name(tag_id),
                            library: crate::feedback::library_of(tag_id).to_string(),
                            pos: 0,
                            neg: 0,
                        },
                    },
                )
                .collect()
        };
        WidgetData::PraiseComplaint { rows }
    }
}

/// The `limit` keys with the largest totals, ties by key.
fn top_keys(totals: HashMap<&str, u64>, limit: usize) -> Vec<String> {
    let mut ranked: Vec<(&str, u64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(limit)
        .map(|(key, _)| key.to_string())
        .collect()
}
