//! One consumer's feedback as the profile sees it, and the profile computed
//! from it at a given moment.

use std::collections::BTreeMap;

use serde::Serialize;

use super::rules::ConsumerTagRules;
use crate::feedback::Polarity;
use crate::store::StoredFeedback;
use crate::time::SECONDS_PER_DAY;

/// Profile windows, in days.
pub const WINDOWS: [u32; 3] = [30, 90, 365];

pub use crate::store::consumers::{ConsumerItem, Mention};

/// What one analysed item contributes to its consumer's profile; `None` for
/// items without a consumer or not analysed.
pub fn contribution(stored: &StoredFeedback) -> Option<ConsumerItem> {
    let consumer_id = stored.item.consumer_id.as_ref()?.trim();
    let analysis = stored.analysis.as_ref()?;
    if consumer_id.is_empty() {
        return None;
    }
    Some(ConsumerItem {
        feedback_id: stored.id,
        consumer_id: consumer_id.to_string(),
        at: stored.item.created_at,
        source: stored.item.source.as_str().to_string(),
        sentiment: analysis.sentiment.as_str().to_string(),
        mentions: analysis
            .tags
            .iter()
            .map(|mention| Mention {
                tag: mention.tag.clone(),
                library: mention.library.clone(),
                polarity: mention.polarity.as_str().to_string(),
            })
            .collect(),
    })
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PolarityCounts {
    pub pos: u64,
    pub neg: u64,
    pub neu: u64,
}

impl PolarityCounts {
    fn add(&mut self, polarity: &str) {
        match polarity {
            "pos" => self.pos += 1,
            "neg" => self.neg += 1,
            _ => self.neu += 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WindowCounts {
    pub items: u64,
    /// Items by overall sentiment.
    pub sentiment: PolarityCounts,
    pub refunds: u64,
    pub libraries: BTreeMap<String, PolarityCounts>,
    pub tags: BTreeMap<String, PolarityCounts>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastNegative {
    pub feedback_id: i64,
    pub at: i64,
    /// The negative tags of that item; empty when only its overall sentiment was negative.
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DerivedTag {
    pub id: String,
    pub name: String,
    pub strength: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub consumer_id: String,
    pub items: u64,
    pub first_feedback_at: Option<i64>,
    pub last_feedback_at: Option<i64>,
    pub last_negative: Option<LastNegative>,
    pub refunds: u64,
    /// Keyed `30d`, `90d`, `365d`; windows end at the moment of evaluation.
    pub windows: BTreeMap<String, WindowCounts>,
    pub tags: Vec<DerivedTag>,
    /// When time alone may next change a tag (a window edge passing an
    /// item, an idle threshold): the consumer is re-evaluated then.
    #[serde(skip)]
    pub next_review_at: Option<i64>,
}

/// The profile of one consumer from all of their items, at `now`.
pub fn profile(
    consumer_id: &str,
    items: &[ConsumerItem],
    rules: &ConsumerTagRules,
    now: i64,
) -> Profile {
    let windows = WINDOWS
        .iter()
        .map(|days| {
            let start = now - i64::from(*days) * SECONDS_PER_DAY;
            let mut counts = WindowCounts::default();
            for item in items
                .iter()
                .filter(|item| item.at > start && item.at <= now)
            {
                counts.items += 1;
                counts.sentiment.add(&item.sentiment);
                if item.source == "refund" {
                    counts.refunds += 1;
                }
                for mention in &item.mentions {
                    counts
                        .libraries
                        .entry(mention.library.clone())
                        .or_default()
                        .add(&mention.polarity);
                    counts
                        .tags
                        .entry(mention.tag.clone())
                        .or_default()
                        .add(&mention.polarity);
                }
            }
            (format!("{days}d"), counts)
        })
        .collect();
    let last_negative = items
        .iter()
        .filter(|item| {
            item.sentiment == Polarity::Neg.as_str()
                || item
                    .mentions
                    .iter()
                    .any(|mention| mention.polarity == "neg")
        })
        .max_by_key(|item| (item.at, item.feedback_id))
        .map(|item| LastNegative {
            feedback_id: item.feedback_id,
            at: item.at,
            tags: item
                .mentions
                .iter()
                .filter(|mention| mention.polarity == "neg")
                .map(|mention| mention.tag.clone())
                .collect(),
        });
    let (tags, next_review_at) = derived_tags(items, rules, now);
    Profile {
        consumer_id: consumer_id.to_string(),
        items: items.len() as u64,
        first_feedback_at: items.iter().map(|item| item.at).min(),
        last_feedback_at: items.iter().map(|item| item.at).max(),
        last_negative,
        refunds: items.iter().filter(|item| item.source == "refund").count() as u64,
        windows,
        tags,
        next_review_at,
    }
}

/// The consumer tags that hold at `now`, and the next moment time alone may
/// change them: all a tag refresh needs, without the profile's counts.
pub fn derived_tags(
    items: &[ConsumerItem],
    rules: &ConsumerTagRules,
    now: i64,
) -> (Vec<DerivedTag>, Option<i64>) {
    let mut tags = Vec::new();
    let mut next_review_at: Option<i64> = None;
    for rule in &rules.rules {
        let verdict = rule.evaluate(items, now);
        if verdict.holds {
            tags.push(DerivedTag {
                id: rule.id.clone(),
                name: rule.name.clone(),
                strength: verdict.strength,
            });
        }
        if let Some(next) = rule.next_change(items, now) {
            next_review_at = Some(next_review_at.map_or(next, |earlier| earlier.min(next)));
        }
    }
    (tags, next_review_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumers::rules::ConsumerTagRules;

    const DAY: i64 = SECONDS_PER_DAY;
    const NOW: i64 = 1_800_000_000;

    fn shipped_rules() -> ConsumerTagRules {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons");
        let lexicon = crate::nlp::lexicon::Lexicon::load(&dir).expect("lexicon");
        ConsumerTagRules::load(&dir, &lexicon.tags).expect("shipped consumer tags are valid")
    }

    fn item(
        id: i64,
        days_ago: i64,
        source: &str,
        sentiment: &str,
        mentions: &[(&str, &str)],
    ) -> ConsumerItem {
        ConsumerItem {
            feedback_id: id,
            consumer_id: "c".into(),
            at: NOW - days_ago * DAY,
            source: source.into(),
            sentiment: sentiment.into(),
            mentions: mentions
                .iter()
                .map(|(tag, polarity)| Mention {
                    tag: tag.to_string(),
                    library: crate::feedback::library_of(tag).to_string(),
                    polarity: polarity.to_string(),
                })
                .collect(),
        }
    }

    fn tag_ids(profile: &Profile) -> Vec<&str> {
        profile.tags.iter().map(|tag| tag.id.as_str()).collect()
    }

    #[test]
    fn counts_per_window_and_the_last_negative_issue() {
        let items = vec![
            item(1, 400, "review", "neg", &[("product.quality", "neg")]),
            item(2, 200, "review", "pos", &[("logistics.speed", "pos")]),
            item(
                3,
                60,
                "refund",
                "neg",
                &[("product.size_fit", "neg"), ("service.attitude", "pos")],
            ),
            item(
                4,
                10,
                "review",
                "neg",
                &[("logistics.speed", "neg"), ("logistics.courier", "neg")],
            ),
            item(5, 2, "chat", "neu", &[]),
        ];
        let profile = profile("c", &items, &shipped_rules(), NOW);
        assert_eq!(profile.items, 5);
        assert_eq!(profile.refunds, 1);
        assert_eq!(profile.first_feedback_at, Some(NOW - 400 * DAY));
        assert_eq!(profile.last_feedback_at, Some(NOW - 2 * DAY));
        let last_negative = profile.last_negative.as_ref().expect("negative seen");
        assert_eq!(last_negative.feedback_id, 4);
        assert_eq!(
            last_negative.tags,
            vec!["logistics.speed", "logistics.courier"]
        );

        let days_30 = &profile.windows["30d"];
        assert_eq!(
            (days_30.items, days_30.sentiment.neg, days_30.sentiment.neu),
            (2, 1, 1)
        );
        assert_eq!(
            days_30.libraries["logistics"],
            PolarityCounts {
                pos: 0,
                neg: 2,
                neu: 0
            }
        );
        let days_90 = &profile.windows["90d"];
        assert_eq!((days_90.items, days_90.refunds), (3, 1));
        assert_eq!(days_90.tags["product.size_fit"].neg, 1);
        assert_eq!(days_90.tags["service.attitude"].pos, 1);
        let days_365 = &profile.windows["365d"];
        assert_eq!(
            days_365.items, 4,
            "the 400-day-old item is outside every window"
        );
        assert_eq!(
            days_365.libraries["logistics"],
            PolarityCounts {
                pos: 1,
                neg: 2,
                neu: 0
            }
        );
        assert!(!days_365.tags.contains_key("product.quality"));

        // Two negative logistics mentions in 90 days; a size complaint in 365;
        // the attitude mention is praise, so no after-sales tag.
        assert_eq!(
            tag_ids(&profile),
            vec!["logistics_sensitive", "size_trouble"]
        );
        assert_eq!(profile.tags[0].strength, 2);
        // The first moment time alone can change a tag: 30 days after the
        // newest item (2 days old), silent_churn_risk's idle threshold.
        assert_eq!(profile.next_review_at, Some(NOW + 28 * DAY));
    }

    #[test]
    fn each_shipped_tag_follows_its_definition() {
        let rules = shipped_rules();
        let tags_of = |items: &[ConsumerItem]| {
            tag_ids(&profile("c", items, &rules, NOW))
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };

        // 物流敏感 needs two negative logistics mentions within 90 days.
        assert!(tags_of(&[item(1, 5, "review", "neg", &[("logistics.speed", "neg")])]).is_empty());
        assert_eq!(
            tags_of(&[
                item(1, 5, "review", "neg", &[("logistics.speed", "neg")]),
                item(2, 80, "review", "neg", &[("logistics.packaging", "neg")])
            ]),
            vec!["logistics_sensitive"]
        );
        assert!(tags_of(&[
            item(1, 5, "review", "neg", &[("logistics.speed", "neg")]),
            item(2, 100, "review", "neg", &[("logistics.packaging", "neg")])
        ])
        .is_empty());

        // 高退货风险: a refund plus two negative product mentions in 180 days.
        let refund_risk = [
            item(1, 20, "refund", "neg", &[("product.quality", "neg")]),
            item(
                2,
                100,
                "review",
                "neg",
                &[("product.quality", "neg"), ("product.function", "neg")],
            ),
        ];
        assert_eq!(
            tags_of(&refund_risk),
            vec!["quality_dissatisfied", "high_return_risk"]
        );
        assert!(!tags_of(&refund_risk[1..]).contains(&"high_return_risk".to_string()));

        // 忠实好评: three positive items in a year and no negative one in 90 days.
        let fans = [
            item(1, 10, "review", "pos", &[]),
            item(2, 100, "review", "pos", &[]),
            item(3, 300, "review", "pos", &[]),
        ];
        assert_eq!(tags_of(&fans), vec!["loyal_praise"]);
        let mut soured = fans.to_vec();
        soured.push(item(4, 50, "review", "neg", &[]));
        assert!(tags_of(&soured).is_empty());

        // 沉默流失风险: the last word was negative and then 30 days of silence.
        assert_eq!(
            tags_of(&[item(1, 45, "review", "neg", &[])]),
            vec!["silent_churn_risk"]
        );
        assert!(
            tags_of(&[item(1, 20, "review", "neg", &[])]).is_empty(),
            "not silent long enough"
        );
        assert!(
            tags_of(&[
                item(1, 45, "review", "neg", &[]),
                item(2, 40, "chat", "pos", &[])
            ])
            .is_empty(),
            "came back happy"
        );
    }

    #[test]
    fn a_tag_drops_off_when_time_moves_past_its_window() {
        let rules = shipped_rules();
        let items = [
            item(1, 5, "review", "neg", &[("logistics.speed", "neg")]),
            item(2, 80, "review", "neg", &[("logistics.packaging", "neg")]),
        ];
        let today = profile("c", &items, &rules, NOW);
        assert!(tag_ids(&today).contains(&"logistics_sensitive"));
        let review_at = today.next_review_at.expect("a window edge ahead");
        assert_eq!(
            review_at,
            NOW + 10 * DAY,
            "item 2 leaves the 90-day window in 10 days"
        );
        let later = profile("c", &items, &rules, review_at);
        assert!(!tag_ids(&later).contains(&"logistics_sensitive"));
    }
}
