//! The projection that fills the follow-up queue from the analysis event
//! log (see the module docs of [`crate::followups`] for what it may and may
//! not change).
//!
//! Per batch of events: one pass of pure scoring, then one transaction
//! that records which items are negative per consumer, counts each
//! consumer's negatives in the window (one indexed lookup for the whole
//! batch), adds `repeat` where due, and writes the follow-ups together with
//! the projection's cursor.

use std::collections::HashMap;
use std::sync::Arc;

use super::severity::{Assessment, ScoringContext};
use super::FollowupSettings;
use crate::ingest::projections::{Projection, ProjectionError};
use crate::nlp::lexicon::TagDefinition;
use crate::store::events::AnalysedEvent;
use crate::store::followups::{ConsumerItem, FollowupWrite};
use crate::store::{Store, StoreError};

/// The projection's cursor name.
pub const NAME: &str = "followups";

pub struct FollowupProjection {
    store: Arc<Store>,
    settings: FollowupSettings,
    /// Tag id → display name, for signal details.
    tag_names: HashMap<String, String>,
}

impl FollowupProjection {
    pub fn new(
        store: Arc<Store>,
        settings: FollowupSettings,
        tags: &[TagDefinition],
    ) -> FollowupProjection {
        FollowupProjection {
            store,
            settings,
            tag_names: tags
                .iter()
                .map(|tag| (tag.id.clone(), tag.name.clone()))
                .collect(),
        }
    }
}

impl Projection for FollowupProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&self, events: &[AnalysedEvent]) -> Result<(), ProjectionError> {
        let Some(last_event) = events.last() else {
            return Ok(());
        };
        let context = ScoringContext {
            tag_names: &self.tag_names,
            high_value_amount: self.settings.high_value_amount,
        };
        let assessments: Vec<Assessment> = events
            .iter()
            .map(|event| Assessment::of(&event.item, &context))
            .collect();

        let consumer_items: Vec<ConsumerItem<'_>> = events
            .iter()
            .zip(&assessments)
            .filter_map(|(event, assessment)| {
                let consumer_id = event
                    .item
                    .item
                    .consumer_id
                    .as_deref()
                    .map(str::trim)
                    .filter(|consumer_id| !consumer_id.is_empty())?;
                Some(ConsumerItem {
                    feedback_id: event.item.id,
                    consumer_id,
                    created_at: event.item.item.created_at,
                    negative: assessment.negative,
                })
            })
            .collect();
        let window_days = self.settings.repeat_window_days;
        let window_seconds = i64::from(window_days) * crate::time::SECONDS_PER_DAY;
        // One negative item is no pattern: `repeat` needs two at least.
        let repeat_min_items = self.settings.repeat_min_items.max(2);
        let min_severity = self.settings.min_severity;
        let decide = |negatives_in_window: &[u32]| {
            let negatives_by_feedback: HashMap<i64, u32> = consumer_items
                .iter()
                .zip(negatives_in_window)
                .map(|(item, count)| (item.feedback_id, *count))
                .collect();
            let mut writes = Vec::with_capacity(events.len());
            for (event, assessment) in events.iter().zip(assessments) {
                let item = &event.item;
                let negatives = negatives_by_feedback.get(&item.id).copied().unwrap_or(0);
                let assessment = assessment.with_history(negatives, repeat_min_items, window_days);
                let severity = assessment.severity();
                let signals = serde_json::to_string(&assessment.signals).map_err(|error| {
                    StoreError::Corrupt {
                        id: item.id,
                        message: format!("signals do not serialise: {error}"),
                    }
                })?;
                writes.push(FollowupWrite {
                    feedback_id: item.id,
                    consumer_id: item.item.consumer_id.clone(),
                    created_at: item.item.created_at,
                    severity: severity.level(),
                    score: assessment.score(),
                    signals,
                    qualifies: assessment.candidate && severity >= min_severity,
                });
            }
            Ok(writes)
        };
        let applied = self.store.apply_followup_batch(
            NAME,
            last_event.seq,
            &consumer_items,
            window_seconds,
            decide,
            crate::time::now_unix(),
        )?;
        tracing::debug!(
            events = events.len(),
            queued = applied.queued,
            rescored = applied.rescored,
            dropped = applied.dropped,
            "follow-up queue updated"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::{Analysis, NewFeedback, Polarity, Source};
    use crate::followups::severity::SignalKind;
    use crate::followups::{FollowupStatus, FollowupUpdate, Followups, ListQuery};
    use crate::ingest::projections::Projections;

    const DAY: i64 = 86_400;
    const START: i64 = 1_790_000_000;

    fn item(
        external_id: &str,
        text: &str,
        consumer: &str,
        rating: Option<u8>,
        at: i64,
    ) -> NewFeedback {
        NewFeedback {
            external_id: external_id.into(),
            source: Source::Review,
            channel: "tmall".into(),
            text: text.into(),
            rating,
            order_id: None,
            sku: Some("QH-1".into()),
            product_name: None,
            category: None,
            consumer_id: Some(consumer.into()),
            store: None,
            created_at: at,
            meta: None,
            segments: Vec::new(),
            reason_code: None,
        }
    }

    fn analysis(text: &str, sentiment: Polarity) -> Analysis {
        Analysis {
            normalised_text: text.into(),
            language: "cmn".into(),
            tags: Vec::new(),
            sentiment,
            sentiment_score: sentiment.sign(),
            keywords: Vec::new(),
            analyser_version: "test".into(),
        }
    }

    /// Stores items and records the given analyses, as the worker does.
    fn analyse(store: &Store, items: &[(NewFeedback, Polarity)]) -> Vec<i64> {
        let new: Vec<NewFeedback> = items.iter().map(|(item, _)| item.clone()).collect();
        let ids: Vec<i64> = store
            .insert_batch(&new, START)
            .expect("insert")
            .into_iter()
            .map(|inserted| inserted.id)
            .collect();
        let analyses: Vec<Analysis> = items
            .iter()
            .map(|(item, sentiment)| analysis(&item.text, *sentiment))
            .collect();
        let recorded: Vec<(i64, i64, &Analysis)> = ids
            .iter()
            .zip(&analyses)
            .map(|(id, analysis)| (*id, 0, analysis))
            .collect();
        store.mark_indexed(&recorded, START).expect("mark");
        ids
    }

    fn queue(store: &Store) -> Vec<crate::followups::FollowupView> {
        Followups {
            store,
            tags: &[],
            utc_offset_seconds: 8 * 3600,
        }
        .list(&ListQuery::default())
        .expect("list")
        .items
    }

    #[test]
    fn the_queue_is_filled_scored_and_survives_reanalysis() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path(), false).expect("open"));
        let projections = Projections::new(vec![Arc::new(FollowupProjection::new(
            store.clone(),
            FollowupSettings::default(),
            &[],
        ))]);
        let mut valuable = item("v", "屏幕坏了", "c-4", Some(3), START + 4 * DAY);
        valuable.meta = Some(serde_json::json!({"order_amount": 5000}));
        let ids = analyse(
            &store,
            &[
                (
                    item("calm", "很好看，物流也快", "c-1", Some(5), START),
                    Polarity::Pos,
                ),
                (
                    item(
                        "threat",
                        "再不退款我就投诉到12315",
                        "c-2",
                        Some(1),
                        START + DAY,
                    ),
                    Polarity::Neg,
                ),
                (
                    item("first", "有点起球", "c-3", Some(2), START + 2 * DAY),
                    Polarity::Neg,
                ),
                (valuable, Polarity::Neg),
            ],
        );
        // The same consumer again, in a later batch: counted from the database.
        analyse(
            &store,
            &[(
                item("second", "又起球了", "c-3", Some(2), START + 3 * DAY),
                Polarity::Neg,
            )],
        );
        assert_eq!(projections.catch_up(&store), 5);

        let listed = queue(&store);
        let by_text = |text: &str| {
            listed
                .iter()
                .find(|followup| followup.feedback.text == text)
                .cloned()
        };
        assert!(
            by_text("很好看，物流也快").is_none(),
            "positive items are not queued"
        );
        assert_eq!(listed.len(), 3);
        let threat = by_text("再不退款我就投诉到12315").expect("threat queued");
        assert_eq!(listed[0].id, threat.id, "most severe first");
        assert_eq!(threat.severity_label, "high");
        // One plain 2-star complaint is not worth a call; the second from
        // the same consumer is.
        assert!(by_text("有点起球").is_none());
        let second = by_text("又起球了").expect("second");
        assert!(second
            .signals
            .iter()
            .any(|signal| signal.kind == SignalKind::Repeat));
        assert_eq!(second.severity_label, "medium");
        let valuable = by_text("屏幕坏了").expect("high value");
        assert!(valuable
            .signals
            .iter()
            .any(|signal| signal.kind == SignalKind::Negative && signal.detail == "整体负面"));
        assert!(valuable.signals.iter().any(
            |signal| signal.kind == SignalKind::HighValue && signal.detail == "订单金额 ¥5000"
        ));

        let followups = Followups {
            store: &store,
            tags: &[],
            utc_offset_seconds: 8 * 3600,
        };
        let resolve = |status| FollowupUpdate {
            status: Some(status),
            ..FollowupUpdate::default()
        };
        // Queued "now" by the projection; contacted ten minutes later.
        let queued_at = crate::time::now_unix();
        followups
            .update(
                threat.id,
                &resolve(FollowupStatus::Contacted),
                queued_at + 600,
            )
            .expect("contacted");
        let resolved = followups
            .update(
                threat.id,
                &resolve(FollowupStatus::Resolved),
                queued_at + 1200,
            )
            .expect("resolved");
        assert_eq!(resolved.status, FollowupStatus::Resolved);

        // Reanalysis finds the threat item calmer: the follow-up is rescored,
        // but stays resolved; the untouched high-value one leaves the queue.
        let threat_id = ids[1];
        let calmer = analysis("再不退款我就投诉到12315", Polarity::Neu);
        let calm_again = analysis("屏幕坏了", Polarity::Pos);
        store
            .mark_indexed(
                &[(threat_id, 0, &calmer), (ids[3], 0, &calm_again)],
                START + 12 * DAY,
            )
            .expect("reanalysed");
        assert_eq!(projections.catch_up(&store), 2);
        let after = followups.get(threat.id).expect("still there");
        assert_eq!(after.status, FollowupStatus::Resolved);
        assert!(after.contacted_at.is_some() && after.resolved_at.is_some());
        assert!(after.score < threat.score);
        assert!(!after
            .signals
            .iter()
            .any(|signal| signal.kind == SignalKind::Negative));
        assert!(queue(&store)
            .iter()
            .all(|followup| followup.feedback.text != "屏幕坏了"));

        let stats = followups.stats(None, None).expect("stats");
        assert_eq!((stats.resolved, stats.total), (1, 2));
        assert!((stats.resolution_rate - 0.5).abs() < 1e-9);
        let minutes = stats.median_minutes_to_contact.expect("one contacted");
        assert!((10.0..=11.0).contains(&minutes), "{minutes} minutes");
    }
}
