//! Severe signals: words in one item that must reach a person at once,
//! whatever the counts say (threats to complain to 12315 or the media, a
//! lawyer; safety: fire, electric shock, allergy, poisoning, injury).
//!
//! Matching runs on the analysis' normalised text, which is the customer's
//! speech only (agents saying "您可以拨打12315" must not raise an alert), with
//! ASCII lower-cased in place so character offsets stay those of the text.
//! Word lists, exclusions and negation are per rule in the rules file.
//!
//! Negation: a word is not a signal when a negation word ends at most
//! `negation_gap` characters before it in the same clause (no punctuation
//! or space in between): "没有过敏", "没有出现过敏", "不会起火" stay silent,
//! "再不处理我就打12315投诉" fires (the 不 is six characters away and negates
//! 处理, not the threat). Fixed phrases that contain a negation character
//! without negating what follows ("不得不投诉", "不然我就投诉", "不小心烫伤",
//! "非常过敏") are listed as negation exceptions: the longest entry wins, so
//! they hide the 不/没/非 inside them. `exclude` phrases hide a word the same
//! way ("防过敏", "过敏体质"). A word made of ASCII letters or digits (12315)
//! only matches as a whole token, not inside a phone or order number.
//!
//! The rule fires per item: its alert key is the rule id plus the item id,
//! and keys of severe rules never clear, so an item re-delivered or
//! re-analysed never alerts twice (the dedup lives in `store::alerts`).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Serialize;
use serde_json::json;

use std::sync::Arc;

use super::evaluate::alert_key;
use super::message::{self, SevereFacts};
use super::Alerts;
use crate::ingest::projections::{Projection, ProjectionError};
use crate::store::alerts::{FireOutcome, NewAlert};
use crate::store::events::AnalysedEvent;
use crate::store::StoredFeedback;
use crate::time::{local_day_start, SECONDS_PER_DAY};

pub const DEFAULT_NEGATION_GAP: usize = 2;

pub const DEFAULT_NEGATION: &[&str] = &[
    "不",
    "没",
    "没有",
    "无",
    "未",
    "别",
    "不会",
    "不是",
    "并不",
    "并没有",
    "从不",
    "从没",
    "从未",
    "不要",
    "不用",
    "不再",
    "防止",
    "避免",
];

pub const DEFAULT_NEGATION_EXCEPTIONS: &[&str] = &[
    "不得不",
    "不能不",
    "不会不",
    "不然",
    "要不",
    "要不然",
    "不行",
    "不停",
    "不断",
    "不了",
    "不小心",
    "不管",
    "别人",
    "别的",
    "无论",
    "无法",
    "没想到",
    "没办法",
    "没人",
    "没完",
    "非常",
];

/// A severe rule's word lists, already normalised and lower-cased.
#[derive(Debug, Clone, PartialEq)]
pub struct SevereWords {
    pub words: Vec<String>,
    pub exclude: Vec<String>,
    pub negation: Vec<String>,
    pub negation_exceptions: Vec<String>,
    /// Most characters between a negation word and the signal word.
    pub negation_gap: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordRole {
    Signal,
    Exclude,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NegationRole {
    Negation,
    Exception,
}

#[derive(Debug, Clone)]
pub struct SevereMatcher {
    words: SevereWords,
    word_automaton: AhoCorasick,
    word_roles: Vec<WordRole>,
    negation_automaton: AhoCorasick,
    negation_roles: Vec<NegationRole>,
    /// How far back from a word the negation scan looks, in characters.
    lookback_chars: usize,
}

/// One signal word found in a text, in char offsets of that text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SevereMatch {
    pub word: String,
    pub span: [usize; 2],
    /// The sentence around the word, for the message and the history.
    pub sentence: String,
}

fn automaton(patterns: &[&String]) -> Result<AhoCorasick, String> {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostLongest)
        .build(patterns)
        .map_err(|error| format!("cannot build the word matcher: {error}"))
}

/// Lower-cases ASCII only: the text keeps its length in characters, so
/// offsets found in it are offsets in the analysis' text.
fn ascii_lowercase(text: &str) -> String {
    text.chars().map(|ch| ch.to_ascii_lowercase()).collect()
}

fn breaks_clause(ch: char) -> bool {
    !ch.is_alphanumeric()
}

fn breaks_sentence(ch: char) -> bool {
    matches!(ch, '。' | '！' | '？' | '!' | '?' | '\n' | '；' | ';')
}

const MAX_SENTENCE_CHARS: usize = 120;

impl SevereMatcher {
    pub fn new(words: SevereWords) -> Result<SevereMatcher, String> {
        let mut word_patterns: Vec<&String> = Vec::new();
        let mut word_roles = Vec::new();
        for word in &words.words {
            word_patterns.push(word);
            word_roles.push(WordRole::Signal);
        }
        for phrase in &words.exclude {
            word_patterns.push(phrase);
            word_roles.push(WordRole::Exclude);
        }
        let mut negation_patterns: Vec<&String> = Vec::new();
        let mut negation_roles = Vec::new();
        for word in &words.negation {
            negation_patterns.push(word);
            negation_roles.push(NegationRole::Negation);
        }
        for phrase in &words.negation_exceptions {
            negation_patterns.push(phrase);
            negation_roles.push(NegationRole::Exception);
        }
        let longest_negation = negation_patterns
            .iter()
            .map(|pattern| pattern.chars().count())
            .max()
            .unwrap_or(0);
        Ok(SevereMatcher {
            word_automaton: automaton(&word_patterns)?,
            word_roles,
            negation_automaton: automaton(&negation_patterns)?,
            negation_roles,
            lookback_chars: words.negation_gap + longest_negation,
            words,
        })
    }

    pub fn words(&self) -> &SevereWords {
        &self.words
    }

    /// Every signal word in `text` that is not excluded or negated.
    pub fn find(&self, text: &str) -> Vec<SevereMatch> {
        let lowered = ascii_lowercase(text);
        let chars: Vec<char> = lowered.chars().collect();
        // Byte offset → char offset, for the automaton's byte spans.
        let mut char_at_byte = vec![0usize; lowered.len() + 1];
        for (char_index, (byte_index, ch)) in lowered.char_indices().enumerate() {
            for slot in &mut char_at_byte[byte_index..byte_index + ch.len_utf8()] {
                *slot = char_index;
            }
        }
        char_at_byte[lowered.len()] = chars.len();
        let mut found = Vec::new();
        for hit in self.word_automaton.find_iter(&lowered) {
            if self.word_roles[hit.pattern().as_usize()] == WordRole::Exclude {
                continue;
            }
            let start = char_at_byte[hit.start()];
            let end = char_at_byte[hit.end()];
            if !self.whole_token(&chars, start, end) || self.negated(&chars, start) {
                continue;
            }
            found.push(SevereMatch {
                word: chars[start..end].iter().collect(),
                span: [start, end],
                sentence: sentence_around(text, start, end),
            });
        }
        found
    }

    /// ASCII words (12315) must not sit inside a longer ASCII token.
    fn whole_token(&self, chars: &[char], start: usize, end: usize) -> bool {
        let is_ascii_word = |ch: &char| ch.is_ascii_alphanumeric();
        let touches_before = chars[start..end].first().is_some_and(is_ascii_word)
            && start > 0
            && is_ascii_word(&chars[start - 1]);
        let touches_after = chars[start..end].last().is_some_and(is_ascii_word)
            && chars.get(end).is_some_and(is_ascii_word);
        !touches_before && !touches_after
    }

    fn negated(&self, chars: &[char], word_start: usize) -> bool {
        let mut clause_start = word_start;
        while clause_start > 0
            && word_start - clause_start < self.lookback_chars
            && !breaks_clause(chars[clause_start - 1])
        {
            clause_start -= 1;
        }
        let before: String = chars[clause_start..word_start].iter().collect();
        let before_chars = word_start - clause_start;
        let mut char_offset_of_byte = vec![0usize; before.len() + 1];
        for (char_index, (byte_index, ch)) in before.char_indices().enumerate() {
            for slot in &mut char_offset_of_byte[byte_index..byte_index + ch.len_utf8()] {
                *slot = char_index;
            }
        }
        char_offset_of_byte[before.len()] = before_chars;
        self.negation_automaton.find_iter(&before).any(|hit| {
            let gap = before_chars - char_offset_of_byte[hit.end()];
            self.negation_roles[hit.pattern().as_usize()] == NegationRole::Negation
                && gap <= self.words.negation_gap
        })
    }
}

/// The sentence holding `[start, end)`, trimmed to a readable length.
fn sentence_around(text: &str, start: usize, end: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut sentence_start = start;
    while sentence_start > 0 && !breaks_sentence(chars[sentence_start - 1]) {
        sentence_start -= 1;
    }
    let mut sentence_end = end;
    while sentence_end < chars.len() && !breaks_sentence(chars[sentence_end]) {
        sentence_end += 1;
    }
    if sentence_end < chars.len() && chars[sentence_end] != '\n' {
        // Keep the sentence's own punctuation.
        sentence_end += 1;
    }
    if sentence_end - sentence_start > MAX_SENTENCE_CHARS {
        let half = MAX_SENTENCE_CHARS / 2;
        sentence_start = sentence_start.max(start.saturating_sub(half));
        sentence_end = sentence_end.min(end + half);
    }
    chars[sentence_start..sentence_end]
        .iter()
        .collect::<String>()
        .trim()
        .to_string()
}

impl Alerts {
    /// The alerts the severe rules raise for one analysed item (none for
    /// an item without analysis or older than a rule's `max_age_hours`).
    /// Whether they fire is decided by the store: the key holds the item id.
    pub fn severe_alerts(&self, stored: &StoredFeedback, now: i64) -> Vec<NewAlert> {
        let Some(analysis) = &stored.analysis else {
            return Vec::new();
        };
        let item = &stored.item;
        let mut alerts = Vec::new();
        for (rule, severe) in self.rules.severe_rules() {
            if item.created_at < now - severe.max_age_hours * 3600 {
                continue;
            }
            let found = severe.matcher.find(&analysis.normalised_text);
            let Some(first) = found.first() else {
                continue;
            };
            let mut words: Vec<String> = Vec::new();
            let mut sentences: Vec<String> = Vec::new();
            for signal in &found {
                if !words.contains(&signal.word) {
                    words.push(signal.word.clone());
                }
                if !sentences.contains(&signal.sentence) {
                    sentences.push(signal.sentence.clone());
                }
            }
            sentences.truncate(super::evaluate::EVIDENCE_SNIPPETS);
            let day_start = local_day_start(item.created_at, self.utc_offset_seconds);
            let link = message::search_link(
                &self.public_url,
                &[
                    ("q", first.word.clone()),
                    (
                        "from",
                        crate::time::format_rfc3339(day_start, self.utc_offset_seconds),
                    ),
                    (
                        "to",
                        crate::time::format_rfc3339(
                            day_start + SECONDS_PER_DAY,
                            self.utc_offset_seconds,
                        ),
                    ),
                ],
            );
            let facts = SevereFacts {
                item_id: stored.id,
                words: &words,
                sentences: &sentences,
                source: item.source.as_str(),
                channel: &item.channel,
                created_at: item.created_at,
                consumer_id: item.consumer_id.as_deref(),
                order_id: item.order_id.as_deref(),
                utc_offset_seconds: self.utc_offset_seconds,
            };
            let message = message::severe(rule.severity, &facts, &link);
            alerts.push(NewAlert {
                rule: rule.id.clone(),
                alert_key: alert_key(&rule.id, &format!("item:{}", stored.id)),
                kind: rule.kind().as_str().to_string(),
                severity: rule.severity.as_str().to_string(),
                title: message.title,
                text: message.text,
                detail: json!({
                    "item_id": stored.id,
                    "words": words,
                    "sentences": sentences,
                    "matches": found,
                    "source": item.source.as_str(),
                    "channel": item.channel,
                    "created_at": crate::time::format_rfc3339(item.created_at, self.utc_offset_seconds),
                    "consumer_id": item.consumer_id,
                    "order_id": item.order_id,
                }),
                link,
                targets: rule.notify.clone(),
                cooldown_seconds: rule.cooldown_minutes * 60,
            });
        }
        alerts
    }
}

/// The severe rules as the `alerts` projection of the analysis events: an
/// item's alerts fire in the same transaction that advances the cursor.
pub struct SevereProjection {
    pub alerts: Arc<Alerts>,
}

pub const PROJECTION_NAME: &str = "alerts";

impl SevereProjection {
    /// Applies `events` as of `now` (the projection passes the wall clock;
    /// tests pin it).
    pub fn apply_at(&self, events: &[AnalysedEvent], now: i64) -> Result<usize, ProjectionError> {
        let Some(last) = events.last() else {
            return Ok(0);
        };
        let raised: Vec<NewAlert> = events
            .iter()
            .flat_map(|event| self.alerts.severe_alerts(&event.item, now))
            .collect();
        let outcomes =
            self.alerts
                .store
                .fire_alerts_for_events(&raised, PROJECTION_NAME, last.seq, now)?;
        let mut fired = 0;
        for outcome in outcomes {
            if let FireOutcome::Fired(record) = outcome {
                tracing::info!(rule = %record.rule, key = %record.key, id = record.id, "severe alert fired");
                fired += 1;
            }
        }
        Ok(fired)
    }
}

impl Projection for SevereProjection {
    fn name(&self) -> &'static str {
        PROJECTION_NAME
    }

    fn apply(&self, events: &[AnalysedEvent]) -> Result<(), ProjectionError> {
        self.apply_at(events, crate::time::now_unix()).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| word.to_string()).collect()
    }

    fn matcher() -> SevereMatcher {
        SevereMatcher::new(SevereWords {
            words: strings(&[
                "12315",
                "投诉",
                "媒体曝光",
                "曝光",
                "律师",
                "起诉",
                "起火",
                "漏电",
                "爆炸",
                "过敏",
                "中毒",
                "受伤",
                "烫伤",
            ]),
            exclude: strings(&["防过敏", "过敏体质", "投诉建议"]),
            negation: strings(DEFAULT_NEGATION),
            negation_exceptions: strings(DEFAULT_NEGATION_EXCEPTIONS),
            negation_gap: DEFAULT_NEGATION_GAP,
        })
        .expect("matcher")
    }

    fn words_in(text: &str) -> Vec<String> {
        matcher()
            .find(text)
            .into_iter()
            .map(|found| found.word)
            .collect()
    }

    #[test]
    fn threats_and_safety_words_fire() {
        assert_eq!(words_in("再不处理我就打12315投诉"), ["12315", "投诉"]);
        assert_eq!(words_in("充电的时候起火了！"), ["起火"]);
        assert_eq!(words_in("孩子穿了全身过敏"), ["过敏"]);
        assert_eq!(words_in("已经找律师了，准备起诉"), ["律师", "起诉"]);
        assert_eq!(
            words_in("要去媒体曝光你们"),
            ["媒体曝光"],
            "longest word wins"
        );
    }

    #[test]
    fn negated_words_stay_silent() {
        for text in [
            "没有过敏",
            "穿了一周没有出现过敏",
            "用着不会漏电，放心",
            "没起火，只是有点烫",
            "不过敏，宝宝穿着舒服",
            "不投诉了，客服态度好",
        ] {
            assert!(words_in(text).is_empty(), "{text}: {:?}", words_in(text));
        }
    }

    #[test]
    fn negation_exceptions_do_not_negate() {
        assert_eq!(words_in("我不得不投诉"), ["投诉"]);
        assert_eq!(words_in("赶紧退款不然我就投诉"), ["投诉"]);
        assert_eq!(words_in("不小心烫伤了手"), ["烫伤"]);
        assert_eq!(words_in("非常过敏"), ["过敏"]);
    }

    #[test]
    fn negation_does_not_cross_punctuation_or_reach_far() {
        assert_eq!(words_in("不是我说，过敏了"), ["过敏"]);
        assert_eq!(words_in("没想到会起火"), ["起火"]);
        assert_eq!(words_in("不知道为什么就漏电了"), ["漏电"]);
    }

    #[test]
    fn exclusions_hide_words() {
        assert!(words_in("这款是防过敏面料").is_empty());
        assert!(words_in("我是过敏体质，穿着没事").is_empty());
        assert!(words_in("欢迎提投诉建议").is_empty());
    }

    #[test]
    fn ascii_words_match_whole_tokens_only() {
        assert!(words_in("订单号 9812315007").is_empty());
        assert_eq!(words_in("打12315"), ["12315"]);
        assert_eq!(words_in("12315!"), ["12315"]);
    }

    #[test]
    fn spans_and_sentences_are_in_characters() {
        let found = matcher().find("物流很快。再不处理我就打12315投诉！谢谢");
        assert_eq!(found[0].span, [12, 17]);
        assert_eq!(found[0].sentence, "再不处理我就打12315投诉！");
    }

    #[test]
    fn the_projection_fires_once_per_item_and_never_for_old_or_negated_items() {
        use super::super::test_fixture::{Fixture, NOW};
        let fixture = Fixture::new();
        fixture.add("再不处理我就打12315投诉", &[NOW - 60]);
        fixture.add("没有过敏，穿着很舒服", &[NOW - 60]);
        fixture.add("充电器起火了", &[NOW - 5 * 24 * 3600]);
        let rules = r#"
            [[rule]]
            id = "threat"
            kind = "severe"
            words = ["12315", "投诉"]
            [[rule]]
            id = "safety"
            kind = "severe"
            words = ["起火", "过敏"]
            max_age_hours = 72
        "#;
        let projection = SevereProjection {
            alerts: Arc::new(fixture.alerts(rules)),
        };
        let store = &fixture.core.store;
        let events = store.analysed_after(0, 100).expect("events");
        assert_eq!(events.len(), 3);
        assert_eq!(projection.apply_at(&events, NOW).expect("apply"), 1);
        assert_eq!(
            store.projection_cursor(PROJECTION_NAME).expect("cursor"),
            events[2].seq
        );
        // Applied again (a crash before the cursor moved on): nothing new.
        assert_eq!(projection.apply_at(&events, NOW).expect("apply"), 0);
        // Reanalysis writes new events for the same items: still nothing.
        store.requeue_all().expect("requeue");
        fixture.drain();
        let again = store.analysed_after(events[2].seq, 100).expect("events");
        assert_eq!(again.len(), 3);
        assert_eq!(projection.apply_at(&again, NOW + 60).expect("apply"), 0);

        let history = store
            .alert_history(&crate::store::alerts::AlertQuery {
                limit: 10,
                ..Default::default()
            })
            .expect("history");
        assert_eq!(history.total, 1);
        let record = &history.alerts[0].record;
        assert_eq!(record.key, format!("threat:item:{}", events[0].item.id));
        assert_eq!(record.detail["words"], json!(["12315", "投诉"]));
        assert_eq!(record.targets, ["ops"]);
        assert_eq!(history.alerts[0].deliveries[0].status, "pending");
    }

    proptest! {
        #[test]
        fn find_never_panics(text in ".{0,80}") {
            let matcher = matcher();
            for found in matcher.find(&text) {
                prop_assert!(found.span[0] < found.span[1]);
                prop_assert!(found.span[1] <= text.chars().count());
            }
        }
    }
}
