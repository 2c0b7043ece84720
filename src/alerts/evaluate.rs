//! Window rules, evaluated over the index at a given `now`.
//!
//! `tag_spike`: the current count is the tag's negative mentions with
//! `created_at` in `[now - window, now)`; the baseline is the same window
//! shifted back by 1, 2, … `baseline_days` days (same time of day). The
//! tagger keeps one mention per tag and item, so mentions are items here.
//! The rule fires when
//!
//! ```text
//! current ≥ max(min_count, mean × ratio, mean + stddev_factor × stddev)
//! ```
//!
//! with the population standard deviation of the daily baseline counts.
//! Both tests are needed: the ratio alone would fire on every wobble of a
//! series that is usually 0–1, the deviation alone would fire on a 5% rise
//! of a large, very steady series. A quiet baseline (mean 0) leaves
//! `min_count` to decide. Days before the first stored item count as 0: a
//! new deployment compares against silence.
//!
//! `library_negative_rate`: negative mentions of the library's tags over
//! all its mentions in the window; fires at `threshold` or above once the
//! window holds `min_mentions` mentions.
//!
//! Counts come from [`FeedbackIndex::stats`] (one collector pass per
//! distinct window, cached for the round and shared by every rule). A key
//! whose condition no longer holds is cleared in the same round, which
//! starts its cooldown (see `store::alerts`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use super::message::{self, RateFacts, Window};
use super::rules::{Condition, LibraryNegativeRate, Rule, TagSpike};
use super::{Alerts, AlertsError};
use crate::feedback::{library_of, Polarity};
use crate::index::aggregate::{self, Stats};
use crate::index::schema;
use crate::index::search::{Filters, SearchRequest, SortOrder};
use crate::index::{FeedbackIndex, IndexError};
use crate::store::alerts::{AlertRecord, FireOutcome, NewAlert};
use crate::time::SECONDS_PER_DAY;

/// Evidence snippets per alert.
pub const EVIDENCE_SNIPPETS: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpikeAssessment {
    pub current: u64,
    /// Counts of the baseline days, yesterday first.
    pub baseline: Vec<u64>,
    pub mean: f64,
    pub stddev: f64,
    /// The count at or above which the rule fires.
    pub threshold: f64,
    pub fires: bool,
}

/// The spike test (see the module docs).
pub fn assess_spike(current: u64, baseline: &[u64], spike: &TagSpike) -> SpikeAssessment {
    let days = baseline.len().max(1) as f64;
    let mean = baseline.iter().sum::<u64>() as f64 / days;
    let variance = baseline
        .iter()
        .map(|count| (*count as f64 - mean).powi(2))
        .sum::<f64>()
        / days;
    let stddev = variance.sqrt();
    let threshold = (spike.min_count as f64)
        .max(mean * spike.ratio)
        .max(mean + spike.stddev_factor * stddev);
    SpikeAssessment {
        current,
        baseline: baseline.to_vec(),
        mean,
        stddev,
        threshold,
        fires: current as f64 >= threshold,
    }
}

/// What one evaluation did.
#[derive(Debug, Default)]
pub struct EvaluationReport {
    pub fired: Vec<AlertRecord>,
    /// Keys whose condition holds (fired now or earlier, or cooling down).
    pub holding: Vec<String>,
    pub cleared: Vec<String>,
}

/// Stats per `[from, to)` window, computed once per evaluation round.
struct WindowStats<'a> {
    index: &'a FeedbackIndex,
    cache: HashMap<(i64, i64), Stats>,
}

impl WindowStats<'_> {
    fn get(&mut self, from: i64, to: i64) -> Result<&Stats, IndexError> {
        if !self.cache.contains_key(&(from, to)) {
            let window = aggregate::Window {
                from,
                to,
                series: None,
                pairs: Vec::new(),
            };
            let stats = self
                .index
                .stats(
                    &Filters::default(),
                    vec![schema::TAG_POLARITY, schema::LIBRARY_POLARITY],
                    vec![window],
                )?
                .into_iter()
                .next()
                .unwrap_or_default();
            self.cache.insert((from, to), stats);
        }
        Ok(&self.cache[&(from, to)])
    }
}

/// Ids with a negative count in a `tag:polarity` or `library:polarity` field.
fn negative_subjects(stats: &Stats, field: &str) -> Vec<String> {
    stats
        .counts
        .get(field)
        .into_iter()
        .flat_map(|counts| counts.iter())
        .filter_map(|(term, count)| {
            let (subject, polarity) = term.rsplit_once(':')?;
            (polarity == Polarity::Neg.as_str() && *count > 0).then(|| subject.to_string())
        })
        .collect()
}

pub fn alert_key(rule_id: &str, subject: &str) -> String {
    format!("{rule_id}:{subject}")
}

impl Alerts {
    /// Evaluates every window rule at `now`: fires what newly holds, clears
    /// what stopped holding.
    pub fn evaluate(&self, now: i64) -> Result<EvaluationReport, AlertsError> {
        let mut windows = WindowStats {
            index: &self.index,
            cache: HashMap::new(),
        };
        let mut report = EvaluationReport::default();
        for rule in &self.rules.rules {
            let holding = match &rule.condition {
                Condition::TagSpike(spike) => {
                    self.evaluate_tag_spike(rule, spike, now, &mut windows, &mut report)?
                }
                Condition::LibraryNegativeRate(rate) => {
                    self.evaluate_library_rate(rule, rate, now, &mut windows, &mut report)?
                }
                // Per-item rules run as the analysis projection.
                Condition::Severe(_) => continue,
            };
            report
                .cleared
                .extend(self.store.clear_alerts(&rule.id, &holding, now)?);
            report.holding.extend(holding);
        }
        Ok(report)
    }

    /// Fires `build()` for `key` unless the key is active or cooling down;
    /// the message (which searches for evidence) is only built when it may fire.
    fn fire_if_due(
        &self,
        rule: &Rule,
        key: &str,
        now: i64,
        report: &mut EvaluationReport,
        build: impl FnOnce() -> Result<NewAlert, AlertsError>,
    ) -> Result<(), AlertsError> {
        let cooldown_seconds = rule.cooldown_minutes * 60;
        if !self.store.alert_may_fire(key, cooldown_seconds, now)? {
            return Ok(());
        }
        if let FireOutcome::Fired(record) = self.store.fire_alert(&build()?, now)? {
            tracing::info!(rule = %rule.id, key, id = record.id, "alert fired");
            report.fired.push(*record);
        }
        Ok(())
    }

    fn evaluate_tag_spike(
        &self,
        rule: &Rule,
        spike: &TagSpike,
        now: i64,
        windows: &mut WindowStats<'_>,
        report: &mut EvaluationReport,
    ) -> Result<Vec<String>, AlertsError> {
        let window_seconds = spike.window_minutes * 60;
        let current_stats = windows.get(now - window_seconds, now)?;
        let tags = match &spike.tag {
            Some(tag) => vec![tag.clone()],
            None => negative_subjects(current_stats, schema::TAG_POLARITY),
        };
        let current_counts: Vec<u64> = tags
            .iter()
            .map(|tag| current_stats.count(schema::TAG_POLARITY, &format!("{tag}:neg")))
            .collect();
        let mut holding = Vec::new();
        for (tag, current) in tags.iter().zip(current_counts) {
            if current < spike.min_count {
                continue;
            }
            let mut baseline = Vec::with_capacity(spike.baseline_days as usize);
            for days_back in 1..=spike.baseline_days {
                let to = now - days_back * SECONDS_PER_DAY;
                let stats = windows.get(to - window_seconds, to)?;
                baseline.push(stats.count(schema::TAG_POLARITY, &format!("{tag}:neg")));
            }
            let assessment = assess_spike(current, &baseline, spike);
            if !assessment.fires {
                continue;
            }
            let key = alert_key(&rule.id, tag);
            self.fire_if_due(rule, &key, now, report, || {
                self.tag_spike_alert(rule, spike, tag, &assessment, &key, now)
            })?;
            holding.push(key);
        }
        Ok(holding)
    }

    fn tag_spike_alert(
        &self,
        rule: &Rule,
        spike: &TagSpike,
        tag: &str,
        assessment: &SpikeAssessment,
        key: &str,
        now: i64,
    ) -> Result<NewAlert, AlertsError> {
        let window = Window {
            from: now - spike.window_minutes * 60,
            to: now,
            minutes: spike.window_minutes,
            utc_offset_seconds: self.utc_offset_seconds,
        };
        let filters = Filters {
            tag: Some(tag.to_string()),
            polarity: Some(Polarity::Neg.as_str().to_string()),
            from: Some(window.from),
            to: Some(window.to),
            ..Filters::default()
        };
        let evidence = self.evidence(&filters, |mention_tag| mention_tag == tag)?;
        let link = self.window_link(&[("tag", tag.to_string())], &window);
        let tag_name = self.tag_name(tag);
        let message = message::tag_spike(
            rule.severity,
            &message::SpikeFacts {
                tag,
                tag_name: &tag_name,
                assessment,
                baseline_days: spike.baseline_days,
            },
            &window,
            &evidence,
            &link,
        );
        Ok(NewAlert {
            rule: rule.id.clone(),
            alert_key: key.to_string(),
            kind: rule.kind().as_str().to_string(),
            severity: rule.severity.as_str().to_string(),
            title: message.title,
            text: message.text,
            detail: json!({
                "tag": tag,
                "tag_name": tag_name,
                "window_minutes": spike.window_minutes,
                "from": crate::time::format_rfc3339(window.from, self.utc_offset_seconds),
                "to": crate::time::format_rfc3339(window.to, self.utc_offset_seconds),
                "current": assessment.current,
                "baseline_days": spike.baseline_days,
                "baseline": assessment.baseline,
                "baseline_mean": assessment.mean,
                "baseline_stddev": assessment.stddev,
                "threshold": assessment.threshold,
                "min_count": spike.min_count,
                "ratio": spike.ratio,
                "stddev_factor": spike.stddev_factor,
                "evidence": evidence,
            }),
            link,
            targets: rule.notify.clone(),
            cooldown_seconds: rule.cooldown_minutes * 60,
        })
    }

    fn evaluate_library_rate(
        &self,
        rule: &Rule,
        rate_rule: &LibraryNegativeRate,
        now: i64,
        windows: &mut WindowStats<'_>,
        report: &mut EvaluationReport,
    ) -> Result<Vec<String>, AlertsError> {
        let window_seconds = rate_rule.window_minutes * 60;
        let stats = windows.get(now - window_seconds, now)?;
        let libraries = match &rate_rule.library {
            Some(library) => vec![library.clone()],
            None => negative_subjects(stats, schema::LIBRARY_POLARITY),
        };
        let mut facts_by_library = Vec::new();
        for library in libraries {
            let count = |polarity: Polarity| {
                stats.count(
                    schema::LIBRARY_POLARITY,
                    &format!("{library}:{}", polarity.as_str()),
                )
            };
            let negative = count(Polarity::Neg);
            let mentions = count(Polarity::Pos) + negative + count(Polarity::Neu);
            if mentions < rate_rule.min_mentions || mentions == 0 {
                continue;
            }
            let rate = negative as f64 / mentions as f64;
            if rate >= rate_rule.threshold {
                facts_by_library.push(RateFacts {
                    library,
                    negative,
                    mentions,
                    rate,
                    threshold: rate_rule.threshold,
                });
            }
        }
        let mut holding = Vec::new();
        for facts in facts_by_library {
            let key = alert_key(&rule.id, &facts.library);
            self.fire_if_due(rule, &key, now, report, || {
                self.library_rate_alert(rule, rate_rule, &facts, &key, now)
            })?;
            holding.push(key);
        }
        Ok(holding)
    }

    fn library_rate_alert(
        &self,
        rule: &Rule,
        rate_rule: &LibraryNegativeRate,
        facts: &RateFacts,
        key: &str,
        now: i64,
    ) -> Result<NewAlert, AlertsError> {
        let window = Window {
            from: now - rate_rule.window_minutes * 60,
            to: now,
            minutes: rate_rule.window_minutes,
            utc_offset_seconds: self.utc_offset_seconds,
        };
        let filters = Filters {
            library: Some(facts.library.clone()),
            polarity: Some(Polarity::Neg.as_str().to_string()),
            from: Some(window.from),
            to: Some(window.to),
            ..Filters::default()
        };
        let evidence = self.evidence(&filters, |mention_tag| {
            library_of(mention_tag) == facts.library
        })?;
        let link = self.window_link(&[("library", facts.library.clone())], &window);
        let message =
            message::library_negative_rate(rule.severity, facts, &window, &evidence, &link);
        Ok(NewAlert {
            rule: rule.id.clone(),
            alert_key: key.to_string(),
            kind: rule.kind().as_str().to_string(),
            severity: rule.severity.as_str().to_string(),
            title: message.title,
            text: message.text,
            detail: json!({
                "library": facts.library,
                "window_minutes": rate_rule.window_minutes,
                "from": crate::time::format_rfc3339(window.from, self.utc_offset_seconds),
                "to": crate::time::format_rfc3339(window.to, self.utc_offset_seconds),
                "negative": facts.negative,
                "mentions": facts.mentions,
                "rate": facts.rate,
                "threshold": facts.threshold,
                "min_mentions": rate_rule.min_mentions,
                "evidence": evidence,
            }),
            link,
            targets: rule.notify.clone(),
            cooldown_seconds: rule.cooldown_minutes * 60,
        })
    }

    fn window_link(&self, subject: &[(&str, String)], window: &Window) -> String {
        let mut parameters: Vec<(&str, String)> = subject.to_vec();
        parameters.push(("polarity", Polarity::Neg.as_str().to_string()));
        parameters.push((
            "from",
            crate::time::format_rfc3339(window.from, self.utc_offset_seconds),
        ));
        parameters.push((
            "to",
            crate::time::format_rfc3339(window.to, self.utc_offset_seconds),
        ));
        message::search_link(&self.public_url, &parameters)
    }

    /// What the newest matching items said: the whole text when it is
    /// short, else the clause that carried the matching negative tag.
    fn evidence(
        &self,
        filters: &Filters,
        wanted_tag: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, AlertsError> {
        let hits = self.index.search(&SearchRequest {
            text: None,
            filters: filters.clone(),
            sort: SortOrder::Newest,
            limit: EVIDENCE_SNIPPETS,
            offset: 0,
        })?;
        let mut snippets = Vec::with_capacity(hits.hits.len());
        for hit in hits.hits {
            let snippet = if hit.text.chars().count() <= message::EVIDENCE_CHARS {
                hit.text
            } else {
                let clause = self
                    .store
                    .get(hit.id as i64)?
                    .and_then(|stored| stored.analysis)
                    .and_then(|analysis| {
                        analysis
                            .tags
                            .into_iter()
                            .find(|mention| {
                                mention.polarity == Polarity::Neg
                                    && mention.evidence.field.is_none()
                                    && wanted_tag(&mention.tag)
                            })
                            .map(|mention| mention.evidence.clause)
                    });
                clause
                    .unwrap_or(hit.text)
                    .chars()
                    .take(message::EVIDENCE_CHARS)
                    .collect()
            };
            if !snippets.contains(&snippet) {
                snippets.push(snippet);
            }
        }
        Ok(snippets)
    }
}

/// The evaluation thread's loop: evaluates at once, then every `interval`,
/// until `shutdown` is set. Errors are logged and the next round retries.
pub fn run_evaluator(alerts: &Alerts, interval: Duration, shutdown: &AtomicBool) {
    // Short naps keep shutdown prompt whatever the interval.
    const NAP: Duration = Duration::from_millis(200);
    let mut next_round = Instant::now();
    while !shutdown.load(Ordering::Relaxed) {
        if Instant::now() >= next_round {
            match alerts.evaluate(crate::time::now_unix()) {
                Ok(report) => tracing::debug!(
                    fired = report.fired.len(),
                    holding = report.holding.len(),
                    cleared = report.cleared.len(),
                    "alert rules evaluated"
                ),
                Err(error) => {
                    tracing::error!(%error, "alert evaluation failed; retrying next round")
                }
            }
            next_round = Instant::now() + interval;
        }
        std::thread::sleep(NAP.min(next_round.saturating_duration_since(Instant::now())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spike(min_count: u64, ratio: f64, stddev_factor: f64) -> TagSpike {
        TagSpike {
            tag: Some("logistics.speed".into()),
            window_minutes: 60,
            baseline_days: 7,
            min_count,
            ratio,
            stddev_factor,
        }
    }

    #[test]
    fn a_quiet_baseline_leaves_min_count_to_decide() {
        let rule = spike(5, 2.0, 3.0);
        let quiet = [0; 7];
        assert!(assess_spike(5, &quiet, &rule).fires);
        assert!(!assess_spike(4, &quiet, &rule).fires);
        assert_eq!(assess_spike(4, &quiet, &rule).threshold, 5.0);
    }

    #[test]
    fn mean_and_population_stddev() {
        let assessment = assess_spike(0, &[2, 4, 4, 4, 5, 5, 7, 9], &spike(1, 1.0, 0.0));
        assert_eq!(assessment.mean, 5.0);
        assert_eq!(assessment.stddev, 2.0);
    }

    #[test]
    fn both_the_ratio_and_the_deviation_must_be_exceeded() {
        // Steady series: mean 50, stddev 0 → the ratio decides (100).
        let steady = [50; 7];
        let rule = spike(5, 2.0, 3.0);
        assert!(!assess_spike(60, &steady, &rule).fires);
        assert_eq!(assess_spike(60, &steady, &rule).threshold, 100.0);
        assert!(assess_spike(100, &steady, &rule).fires);
        // Noisy series: mean 5, stddev 5 → the deviation decides (20).
        let noisy = [0, 10, 0, 10, 0, 10, 5];
        let assessment = assess_spike(12, &noisy, &rule);
        assert!((assessment.mean - 5.0).abs() < 1e-9);
        assert!(!assessment.fires, "{assessment:?}");
        assert!(assess_spike(25, &noisy, &rule).fires);
    }

    use super::super::test_fixture::{Fixture, NOW};

    const SPIKE_RULE: &str = r#"
        [[rule]]
        id = "spike"
        kind = "tag_spike"
        tag = "*"
        min_count = 5
        cooldown_minutes = 30
    "#;

    fn fired_keys(report: &EvaluationReport) -> Vec<String> {
        report
            .fired
            .iter()
            .map(|record| record.key.clone())
            .collect()
    }

    #[test]
    fn a_spike_fires_once_clears_and_respects_the_cooldown() {
        let fixture = Fixture::new();
        // Quiet baseline: one complaint at this time of day, three days ago.
        fixture.add("物流太慢了", &[NOW - 3 * SECONDS_PER_DAY - 600]);
        fixture.add(
            "物流太慢了，等了好久",
            &[
                NOW - 300,
                NOW - 600,
                NOW - 900,
                NOW - 1200,
                NOW - 1500,
                NOW - 1800,
            ],
        );
        // Noise: a tag below min_count.
        fixture.add("客服态度很差", &[NOW - 300, NOW - 600]);
        let alerts = fixture.alerts(SPIKE_RULE);

        let first = alerts.evaluate(NOW).expect("evaluate");
        assert_eq!(fired_keys(&first), ["spike:logistics.speed"]);
        let record = &first.fired[0];
        assert_eq!(record.detail["current"], 6);
        assert_eq!(record.detail["baseline"], json!([0, 0, 1, 0, 0, 0, 0]));
        assert_eq!(record.detail["evidence"].as_array().map(Vec::len), Some(1));
        assert!(record
            .link
            .starts_with("http://ui.example/#/search?tag=logistics.speed&polarity=neg&from="));
        assert!(record.text.contains("**6** 条"), "{}", record.text);

        let second = alerts.evaluate(NOW + 60).expect("evaluate");
        assert!(second.fired.is_empty(), "the same spike alerts once");
        assert_eq!(second.holding, ["spike:logistics.speed"]);

        // Two hours later the window is empty: the key clears.
        let later = NOW + 2 * 3600;
        let cleared = alerts.evaluate(later).expect("evaluate");
        assert_eq!(cleared.cleared, ["spike:logistics.speed"]);

        // A new spike within the cooldown stays silent, after it fires again.
        fixture.add(
            "物流太慢了",
            &[
                later + 60,
                later + 120,
                later + 180,
                later + 240,
                later + 300,
            ],
        );
        let cooling = alerts.evaluate(later + 600).expect("evaluate");
        assert!(cooling.fired.is_empty());
        assert_eq!(cooling.holding, ["spike:logistics.speed"]);
        let after_cooldown = alerts.evaluate(later + 1800).expect("evaluate");
        assert_eq!(fired_keys(&after_cooldown), ["spike:logistics.speed"]);
    }

    #[test]
    fn counts_at_baseline_level_are_noise() {
        let fixture = Fixture::new();
        let same_time_each_day: Vec<i64> = (0..=7)
            .flat_map(|day| {
                let at = NOW - day * SECONDS_PER_DAY - 900;
                [at, at - 60, at - 120, at - 180, at - 240, at - 300]
            })
            .collect();
        fixture.add("物流太慢了", &same_time_each_day);
        let report = fixture.alerts(SPIKE_RULE).evaluate(NOW).expect("evaluate");
        assert!(report.fired.is_empty(), "{:?}", fired_keys(&report));
    }

    #[test]
    fn a_library_negative_rate_over_its_threshold_fires() {
        let fixture = Fixture::new();
        fixture.add("物流太慢了", &[NOW - 60, NOW - 120, NOW - 180]);
        fixture.add("物流很快", &[NOW - 240]);
        let rules = r#"
            [[rule]]
            id = "rate"
            kind = "library_negative_rate"
            library = "*"
            window_minutes = 60
            threshold = 0.7
            min_mentions = 4
        "#;
        let alerts = fixture.alerts(rules);
        let report = alerts.evaluate(NOW).expect("evaluate");
        assert_eq!(fired_keys(&report), ["rate:logistics"]);
        assert_eq!(report.fired[0].detail["negative"], 3);
        assert_eq!(report.fired[0].detail["mentions"], 4);
        fixture.add("物流很快", &[NOW - 30]);
        let diluted = alerts.evaluate(NOW + 60).expect("evaluate");
        assert_eq!(diluted.cleared, ["rate:logistics"], "3 of 5 is below 0.7");
    }

    #[test]
    fn counts_at_baseline_level_do_not_fire() {
        let rule = spike(3, 2.0, 3.0);
        assert!(!assess_spike(6, &[6, 5, 7, 6, 6, 5, 7], &rule).fires);
    }
}
