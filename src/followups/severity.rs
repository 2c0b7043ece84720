//! How urgent a follow-up is: the signals an analysed item carries, what
//! each weighs, and the severity level their sum falls in.
//!
//! Score = the sum of the points of the item's signals, capped at
//! [`MAX_SCORE`]. The weights are constants (listed in the README's
//! "Follow-up queue" section) so that a score means the same in every
//! deployment; which level enters the queue is configurable
//! (`followups.min_severity`).
//!
//! | signal | points |
//! |---|---|
//! | `threat`, escalation (投诉, 12315, 315, 曝光, 媒体, 律师, 起诉, 黑猫, 消协, 工商, 举报, ...) | 45 |
//! | `threat`, refund or review (退款, 退货, 退钱, 差评) | 25 |
//! | `repeat` (≥ 2 negative items of the consumer in 30 days) | 25, +5 per further item, at most 35 |
//! | `high_value` (order amount ≥ `followups.high_value_amount`) | 25 |
//! | `negative` (overall sentiment or a tag negative) | 15 |
//! | `low_rating` 1 star / 2 stars | 15 / 10 |
//! | `refund` (source = refund) | 15 |
//!
//! Levels: low < 40 ≤ medium < 60 ≤ high < 80 ≤ critical. They are meant
//! to read as: *low*, unhappy (a negative review with a low rating);
//! *medium*, unhappy with a reason to act now (a refund, return or bad
//! review threatened, a consumer complaining again, a valuable order);
//! *high*, an escalation threatened (投诉, 12315, the press) or several
//! reasons together; *critical*, an escalation and more.
//!
//! Threat words count only in the customer's own words, and not when
//! negated in their clause ("不会给差评", "没打算投诉"); a conditional
//! consequence ("再不退款我就投诉", "不然就曝光") ends the negation's reach.

use std::collections::HashMap;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use serde::{Deserialize, Serialize};

use crate::feedback::{Polarity, Source};
use crate::store::StoredFeedback;

pub const WEIGHT_ESCALATION_THREAT: u32 = 45;
pub const WEIGHT_REFUND_THREAT: u32 = 25;
pub const WEIGHT_REPEAT: u32 = 25;
pub const WEIGHT_REPEAT_PER_FURTHER_ITEM: u32 = 5;
pub const WEIGHT_REPEAT_MAX: u32 = 35;
pub const WEIGHT_HIGH_VALUE: u32 = 25;
pub const WEIGHT_NEGATIVE: u32 = 15;
pub const WEIGHT_RATING_ONE_STAR: u32 = 15;
pub const WEIGHT_RATING_TWO_STARS: u32 = 10;
pub const WEIGHT_REFUND: u32 = 15;
pub const MAX_SCORE: u32 = 100;

/// Lowest score of each level above `low`.
pub const MEDIUM_FROM_SCORE: u32 = 40;
pub const HIGH_FROM_SCORE: u32 = 60;
pub const CRITICAL_FROM_SCORE: u32 = 80;

/// Meta fields read, in this order, for the order's value in yuan (a JSON
/// number, or a string such as "¥5,000.00").
pub const ORDER_AMOUNT_META_FIELDS: [&str; 3] = ["order_amount", "amount", "payment"];

/// Urgency levels; the number is what the API and `min_severity` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low = 1,
    Medium = 2,
    High = 3,
    Critical = 4,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn from_score(score: u32) -> Severity {
        if score >= CRITICAL_FROM_SCORE {
            Severity::Critical
        } else if score >= HIGH_FROM_SCORE {
            Severity::High
        } else if score >= MEDIUM_FROM_SCORE {
            Severity::Medium
        } else {
            Severity::Low
        }
    }

    pub fn level(self) -> u8 {
        self as u8
    }

    pub fn from_level(level: i64) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|severity| i64::from(severity.level()) == level)
    }

    pub fn label(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    /// `2` or `medium`: people write either in a config file.
    fn from_str(value: &str) -> Result<Severity, String> {
        let value = value.trim();
        let by_level = value.parse::<i64>().ok().and_then(Severity::from_level);
        let by_label = Severity::ALL
            .into_iter()
            .find(|severity| severity.label().eq_ignore_ascii_case(value));
        by_level.or(by_label).ok_or_else(|| {
            format!("expected a severity 1-4 or low, medium, high, critical; got {value:?}")
        })
    }
}

impl Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.level())
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Severity, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum LevelOrLabel {
            Level(i64),
            Label(String),
        }
        let text = match LevelOrLabel::deserialize(deserializer)? {
            LevelOrLabel::Level(level) => level.to_string(),
            LevelOrLabel::Label(label) => label,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    Threat,
    Repeat,
    LowRating,
    HighValue,
    Refund,
    Negative,
}

/// One reason to contact the customer, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub kind: SignalKind,
    /// For people, in Chinese: what in the item raised the signal.
    pub detail: String,
    /// This signal's share of the score.
    pub points: u32,
}

/// Sum of the signals' points, capped.
pub fn total_score(signals: &[Signal]) -> u32 {
    signals
        .iter()
        .map(|signal| signal.points)
        .sum::<u32>()
        .min(MAX_SCORE)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThreatTier {
    /// Asking for money back or threatening a bad review.
    RefundOrReview,
    /// Taking it to authorities, the press, lawyers or complaint platforms.
    Escalation,
}

impl ThreatTier {
    fn points(self) -> u32 {
        match self {
            ThreatTier::RefundOrReview => WEIGHT_REFUND_THREAT,
            ThreatTier::Escalation => WEIGHT_ESCALATION_THREAT,
        }
    }
}

const THREAT_WORDS: [(&str, ThreatTier); 20] = [
    ("投诉", ThreatTier::Escalation),
    ("12315", ThreatTier::Escalation),
    ("315", ThreatTier::Escalation),
    ("曝光", ThreatTier::Escalation),
    ("媒体", ThreatTier::Escalation),
    ("律师", ThreatTier::Escalation),
    ("起诉", ThreatTier::Escalation),
    ("打官司", ThreatTier::Escalation),
    ("法院", ThreatTier::Escalation),
    ("黑猫", ThreatTier::Escalation),
    ("消协", ThreatTier::Escalation),
    ("消费者协会", ThreatTier::Escalation),
    ("工商", ThreatTier::Escalation),
    ("市场监管", ThreatTier::Escalation),
    ("举报", ThreatTier::Escalation),
    ("维权", ThreatTier::Escalation),
    ("退款", ThreatTier::RefundOrReview),
    ("退货", ThreatTier::RefundOrReview),
    ("退钱", ThreatTier::RefundOrReview),
    ("差评", ThreatTier::RefundOrReview),
];

/// Phrases in which a threat word means something else (camera exposure,
/// multimedia, a bank, reading other people's reviews).
const NOT_THREATS: [&str; 16] = [
    "曝光度",
    "曝光补偿",
    "曝光不足",
    "曝光过度",
    "过曝光",
    "欠曝光",
    "自动曝光",
    "长曝光",
    "曝光时间",
    "曝光模式",
    "多媒体",
    "流媒体",
    "工商银行",
    "看了差评",
    "看到差评",
    "看差评",
];

/// How far before a threat word a negation is looked for, in characters.
const NEGATION_WINDOW_CHARS: usize = 6;

/// Words after which what follows is the consequence of a condition ("再不
/// 退款我就投诉") or a new intention ("不喜欢我要退货"): a negation before
/// them does not reach past them. 我要, not 要: "不要", "没必要" negate.
const CONSEQUENCE_MARKERS: [&str; 8] = ["就", "才", "否则", "不然", "要不", "的话", "那", "我要"];

/// Words whose 不/没/无 negates nothing that follows ("不满", "不得不").
const NOT_NEGATIONS: [&str; 22] = [
    "不满",
    "不得不",
    "不然",
    "要不",
    "不行",
    "不爽",
    "不好",
    "不对",
    "忍不住",
    "受不了",
    "忍不了",
    "不管",
    "不如",
    "不知道",
    "不停",
    "不断",
    "差不多",
    "没用",
    "没办法",
    "无奈",
    "无语",
    "没法",
];

const NEGATORS: [char; 7] = ['不', '没', '别', '未', '勿', '莫', '无'];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreatHit {
    pub word: &'static str,
    pub tier: ThreatTier,
}

fn is_clause_break(ch: char) -> bool {
    ch.is_whitespace()
        || matches!(
            ch,
            '，' | '。'
                | '！'
                | '？'
                | '；'
                | '：'
                | '、'
                | ','
                | '.'
                | '!'
                | '?'
                | ';'
                | ':'
                | '~'
                | '～'
                | '…'
        )
}

/// All threat words in one automaton: a text is scanned once. Overlapping
/// matches, so that "黑猫投诉" yields both words.
static THREAT_MATCHER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::new(THREAT_WORDS.iter().map(|(word, _)| *word))
        .expect("threat words are short literal strings")
});

/// Threat words in `text` (the customer's normalised words) that are not
/// negated, each word once, strongest tier first.
pub fn detect_threats(text: &str) -> Vec<ThreatHit> {
    let mut counted = [false; THREAT_WORDS.len()];
    for found in THREAT_MATCHER.find_overlapping_iter(text) {
        let index = found.pattern().as_usize();
        if !counted[index] && is_threat_at(text, found.start(), THREAT_WORDS[index].0) {
            counted[index] = true;
        }
    }
    let mut hits: Vec<ThreatHit> = THREAT_WORDS
        .iter()
        .zip(counted)
        .filter(|(_, is_counted)| *is_counted)
        .map(|((word, tier), _)| ThreatHit { word, tier: *tier })
        .collect();
    hits.sort_by_key(|hit| std::cmp::Reverse(hit.tier));
    hits
}

fn is_threat_at(text: &str, start: usize, word: &str) -> bool {
    let end = start + word.len();
    if word == "315" && !is_standalone_number(text, start, end) {
        return false;
    }
    if word == "12315" && !is_standalone_number(text, start, end) {
        return false;
    }
    let inside_other_phrase = NOT_THREATS.iter().any(|phrase| {
        phrase.contains(word)
            && text.match_indices(phrase).any(|(phrase_start, _)| {
                phrase_start <= start && end <= phrase_start + phrase.len()
            })
    });
    !inside_other_phrase && !is_negated(&text[..start])
}

/// "315" means the consumer-rights day or hotline, not "315元" or "3150".
fn is_standalone_number(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let digit_before = before.is_some_and(|ch| ch.is_ascii_digit() || ch == '.');
    let digit_or_unit_after = after.is_some_and(|ch| {
        ch.is_ascii_digit()
            || matches!(
                ch,
                '元' | '块' | '克' | '斤' | '号' | '毫' | '米' | 'g' | 'm' | 'M' | 'G'
            )
    });
    !digit_before && !digit_or_unit_after
}

/// Whether the text just before a threat word (same clause, a few
/// characters, after the last consequence marker) negates it.
fn is_negated(before: &str) -> bool {
    let mut window: Vec<char> = before
        .chars()
        .rev()
        .take_while(|ch| !is_clause_break(*ch))
        .take(NEGATION_WINDOW_CHARS)
        .collect();
    window.reverse();
    let mut window: String = window.into_iter().collect();
    if let Some(cut) = last_consequence_marker_end(&window) {
        window = window[cut..].to_string();
    }
    for phrase in NOT_NEGATIONS {
        window = window.replace(phrase, "");
    }
    window.chars().any(|ch| NEGATORS.contains(&ch))
}

/// Byte offset just after the last consequence marker in `window`.
fn last_consequence_marker_end(window: &str) -> Option<usize> {
    CONSEQUENCE_MARKERS
        .iter()
        .filter_map(|marker| window.rfind(marker).map(|start| start + marker.len()))
        .max()
}

/// The order's value in yuan from the item's `meta`, when it carries one
/// (see [`ORDER_AMOUNT_META_FIELDS`]).
pub fn order_amount(meta: Option<&serde_json::Value>) -> Option<f64> {
    let meta = meta?.as_object()?;
    ORDER_AMOUNT_META_FIELDS.iter().find_map(|field| {
        let value = meta.get(*field)?;
        let amount = match value {
            serde_json::Value::Number(number) => number.as_f64(),
            serde_json::Value::String(text) => {
                let digits: String = text
                    .trim()
                    .trim_start_matches(['¥', '￥', '$'])
                    .trim_end_matches('元')
                    .chars()
                    .filter(|ch| *ch != ',' && *ch != '，')
                    .collect();
                digits.trim().parse::<f64>().ok()
            }
            _ => None,
        }?;
        (amount.is_finite() && amount >= 0.0).then_some(amount)
    })
}

/// What scoring needs besides the item.
pub struct ScoringContext<'a> {
    /// Tag id → display name, for details such as "负面：尺码、做工".
    pub tag_names: &'a HashMap<String, String>,
    pub high_value_amount: f64,
}

/// An analysed item judged for the queue, before the consumer's history is
/// known (the `repeat` signal comes from the database, in batches).
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Negative overall sentiment or at least one negative tag: what
    /// `repeat` counts.
    pub negative: bool,
    /// Negative, a refund, or a complaint threat: worth scoring at all.
    pub candidate: bool,
    pub signals: Vec<Signal>,
}

impl Assessment {
    pub fn of(item: &StoredFeedback, context: &ScoringContext<'_>) -> Assessment {
        let Some(analysis) = item.analysis.as_ref() else {
            return Assessment {
                negative: false,
                candidate: false,
                signals: Vec::new(),
            };
        };
        let mut signals = Vec::new();
        let is_refund = item.item.source == Source::Refund;

        let threats: Vec<ThreatHit> = detect_threats(&analysis.normalised_text)
            .into_iter()
            // In a refund request, asking for the refund is the request itself.
            .filter(|hit| !(is_refund && hit.tier == ThreatTier::RefundOrReview))
            .collect();
        if let Some(strongest) = threats.first() {
            let words: Vec<&str> = threats.iter().map(|hit| hit.word).collect();
            signals.push(Signal {
                kind: SignalKind::Threat,
                detail: format!("提到「{}」", words.join("」「")),
                points: strongest.tier.points(),
            });
        }

        if is_refund {
            let detail = match item.item.reason_code.as_deref() {
                Some(reason) if !reason.trim().is_empty() => {
                    format!("退款/售后申请（{}）", reason.trim())
                }
                _ => "退款/售后申请".to_string(),
            };
            signals.push(Signal {
                kind: SignalKind::Refund,
                detail,
                points: WEIGHT_REFUND,
            });
        }

        match item.item.rating {
            Some(1) => signals.push(Signal {
                kind: SignalKind::LowRating,
                detail: "评分 1 星".to_string(),
                points: WEIGHT_RATING_ONE_STAR,
            }),
            Some(2) => signals.push(Signal {
                kind: SignalKind::LowRating,
                detail: "评分 2 星".to_string(),
                points: WEIGHT_RATING_TWO_STARS,
            }),
            _ => {}
        }

        let mut negative_tag_names: Vec<&str> = Vec::new();
        for mention in analysis
            .tags
            .iter()
            .filter(|mention| mention.polarity == Polarity::Neg)
        {
            let name = context
                .tag_names
                .get(&mention.tag)
                .map_or(mention.tag.as_str(), String::as_str);
            if !negative_tag_names.contains(&name) {
                negative_tag_names.push(name);
            }
        }
        let negative_sentiment = analysis.sentiment == Polarity::Neg;
        let negative = negative_sentiment || !negative_tag_names.is_empty();
        if negative {
            let shown: Vec<&str> = negative_tag_names.iter().take(3).copied().collect();
            let detail = match (negative_sentiment, shown.is_empty()) {
                (true, true) => "整体负面".to_string(),
                (true, false) => format!("整体负面：{}", shown.join("、")),
                (false, _) => format!("负面提及：{}", shown.join("、")),
            };
            signals.push(Signal {
                kind: SignalKind::Negative,
                detail,
                points: WEIGHT_NEGATIVE,
            });
        }

        if let Some(amount) = order_amount(item.item.meta.as_ref()) {
            if amount >= context.high_value_amount {
                signals.push(Signal {
                    kind: SignalKind::HighValue,
                    detail: format!("订单金额 ¥{}", format_yuan(amount)),
                    points: WEIGHT_HIGH_VALUE,
                });
            }
        }

        let candidate = negative || is_refund || !threats.is_empty();
        Assessment {
            negative,
            candidate,
            signals,
        }
    }

    /// Adds `repeat` when the consumer has `negative_items_in_window` (this
    /// one included) ≥ `min_items`, then orders signals by weight.
    pub fn with_history(
        mut self,
        negative_items_in_window: u32,
        min_items: u32,
        window_days: u32,
    ) -> Assessment {
        if self.negative && negative_items_in_window >= min_items {
            let further = negative_items_in_window - min_items;
            self.signals.push(Signal {
                kind: SignalKind::Repeat,
                detail: format!("{window_days} 天内第 {negative_items_in_window} 条负面反馈"),
                points: (WEIGHT_REPEAT + WEIGHT_REPEAT_PER_FURTHER_ITEM * further)
                    .min(WEIGHT_REPEAT_MAX),
            });
        }
        // Stable: equal weights keep the order they were found in.
        self.signals
            .sort_by_key(|signal| std::cmp::Reverse(signal.points));
        self
    }

    pub fn score(&self) -> u32 {
        total_score(&self.signals)
    }

    pub fn severity(&self) -> Severity {
        Severity::from_score(self.score())
    }
}

fn format_yuan(amount: f64) -> String {
    if amount.fract() == 0.0 && amount < 1e15 {
        format!("{}", amount as i64)
    } else {
        format!("{amount:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::{Analysis, Evidence, NewFeedback, TagMention};
    use crate::store::ProcessingState;

    fn words(text: &str) -> Vec<&'static str> {
        detect_threats(text)
            .into_iter()
            .map(|hit| hit.word)
            .collect()
    }

    #[test]
    fn threats_are_found_in_plain_complaints() {
        assert_eq!(words("再不退款我就投诉到12315"), vec!["投诉", "12315"]);
        assert_eq!(words("质量太差了，我要给差评"), vec!["差评"]);
        assert_eq!(words("找媒体曝光你们"), vec!["曝光", "媒体"]);
        assert_eq!(words("已经在黑猫投诉了"), vec!["投诉", "黑猫"]);
        assert_eq!(words("我要退货"), vec!["退货"]);
        assert_eq!(words("315晚会见"), vec!["315"]);
    }

    #[test]
    fn negated_threats_do_not_count() {
        assert!(words("不会给差评的，下次注意").is_empty());
        assert!(words("我没打算投诉，就是说一下").is_empty());
        assert!(words("不想退货了，凑合用").is_empty());
        assert!(words("别担心，不会投诉你们").is_empty());
        assert!(words("没必要找律师").is_empty());
        assert!(words("我不要退款，换一件就行").is_empty());
        // The negation reaches the second word of the same phrase too.
        assert!(words("不想去媒体曝光").is_empty());
    }

    #[test]
    fn a_condition_ends_the_negation() {
        // 再不退款 is negated (the demand), 投诉 after 就 is the threat.
        assert_eq!(words("再不退款我就投诉"), vec!["投诉"]);
        assert_eq!(words("不给处理的话去12315"), vec!["12315"]);
        assert_eq!(words("赶紧发货，不然差评"), vec!["差评"]);
        assert_eq!(words("很不满要投诉"), vec!["投诉"]);
        assert_eq!(words("不得不投诉了"), vec!["投诉"]);
        assert_eq!(words("衣服不喜欢我要退货"), vec!["退货"]);
        assert_eq!(words("气得我忍不住给了差评"), vec!["差评"]);
    }

    #[test]
    fn look_alike_words_are_not_threats() {
        assert!(words("相机曝光不足，夜景一般").is_empty());
        assert!(words("多媒体功能好用").is_empty());
        assert!(words("只能用工商银行付款").is_empty());
        assert!(words("看了差评还是买了，挺好").is_empty());
        assert!(words("花了315元，值").is_empty());
        assert!(words("型号3150").is_empty());
    }

    #[test]
    fn severity_levels_follow_the_score_thresholds() {
        assert_eq!(Severity::from_score(0), Severity::Low);
        assert_eq!(Severity::from_score(39), Severity::Low);
        assert_eq!(Severity::from_score(40), Severity::Medium);
        assert_eq!(Severity::from_score(59), Severity::Medium);
        assert_eq!(Severity::from_score(60), Severity::High);
        assert_eq!(Severity::from_score(79), Severity::High);
        assert_eq!(Severity::from_score(80), Severity::Critical);
        assert_eq!("medium".parse::<Severity>(), Ok(Severity::Medium));
        assert_eq!("4".parse::<Severity>(), Ok(Severity::Critical));
        assert!("5".parse::<Severity>().is_err());
        assert!("urgent".parse::<Severity>().is_err());
    }

    #[test]
    fn order_amount_reads_numbers_and_money_strings() {
        let meta = serde_json::json!({"order_amount": 5000});
        assert_eq!(order_amount(Some(&meta)), Some(5000.0));
        let meta = serde_json::json!({"amount": "¥1,299.50"});
        assert_eq!(order_amount(Some(&meta)), Some(1299.5));
        let meta = serde_json::json!({"payment": "88元", "status": "已退款"});
        assert_eq!(order_amount(Some(&meta)), Some(88.0));
        let meta = serde_json::json!({"amount": "unknown"});
        assert_eq!(order_amount(Some(&meta)), None);
        assert_eq!(order_amount(None), None);
    }

    fn analysed(text: &str, sentiment: Polarity, negative_tags: &[&str]) -> StoredFeedback {
        let tags = negative_tags
            .iter()
            .map(|tag| TagMention {
                tag: tag.to_string(),
                library: crate::feedback::library_of(tag).to_string(),
                polarity: Polarity::Neg,
                score: 1.0,
                evidence: Evidence {
                    clause: text.to_string(),
                    clause_span: [0, 1],
                    span: [0, 1],
                    text: String::new(),
                    segment: None,
                    start_ms: None,
                    field: None,
                },
            })
            .collect();
        StoredFeedback {
            id: 1,
            item: NewFeedback {
                external_id: "x".into(),
                source: Source::Review,
                channel: "tmall".into(),
                text: text.into(),
                rating: None,
                order_id: None,
                sku: None,
                product_name: None,
                category: None,
                consumer_id: Some("c-1".into()),
                store: None,
                created_at: 1_700_000_000,
                meta: None,
                segments: Vec::new(),
                reason_code: None,
            },
            received_at: 1_700_000_000,
            state: ProcessingState::Indexed,
            analysis: Some(Analysis {
                normalised_text: text.into(),
                language: "cmn".into(),
                tags,
                sentiment,
                sentiment_score: 0.0,
                keywords: Vec::new(),
                analyser_version: "test".into(),
            }),
            revision: 0,
        }
    }

    fn context(names: &HashMap<String, String>) -> ScoringContext<'_> {
        ScoringContext {
            tag_names: names,
            high_value_amount: 1000.0,
        }
    }

    fn kinds(assessment: &Assessment) -> Vec<SignalKind> {
        assessment
            .signals
            .iter()
            .map(|signal| signal.kind)
            .collect()
    }

    #[test]
    fn a_complaint_threat_with_one_star_is_high() {
        let names = HashMap::new();
        let mut item = analysed("再不退款我就投诉到12315", Polarity::Neg, &[]);
        item.item.rating = Some(1);
        let assessment = Assessment::of(&item, &context(&names)).with_history(1, 2, 30);
        assert_eq!(
            kinds(&assessment),
            vec![
                SignalKind::Threat,
                SignalKind::LowRating,
                SignalKind::Negative
            ]
        );
        assert_eq!(assessment.score(), 45 + 15 + 15);
        assert_eq!(assessment.severity(), Severity::High);
        // The same from a consumer complaining again is critical.
        let again = Assessment::of(&item, &context(&names)).with_history(2, 2, 30);
        assert_eq!(again.severity(), Severity::Critical);
        assert_eq!(assessment.signals[0].detail, "提到「投诉」「12315」");
    }

    #[test]
    fn positive_items_are_not_candidates_and_plain_complaints_are_low() {
        let names: HashMap<String, String> =
            [("product.size_fit".to_string(), "尺码".to_string())].into();
        let calm = analysed("衣服很好看，物流也快", Polarity::Pos, &[]);
        let assessment = Assessment::of(&calm, &context(&names));
        assert!(!assessment.candidate && !assessment.negative);
        assert!(assessment.signals.is_empty());

        let plain = analysed("尺码偏小", Polarity::Neu, &["product.size_fit"]);
        let assessment = Assessment::of(&plain, &context(&names)).with_history(1, 2, 30);
        assert!(assessment.candidate && assessment.negative);
        assert_eq!(assessment.signals[0].detail, "负面提及：尺码");
        assert_eq!(assessment.severity(), Severity::Low);
    }

    #[test]
    fn repeat_and_high_value_add_their_points() {
        let names = HashMap::new();
        let mut item = analysed("又坏了", Polarity::Neg, &[]);
        item.item.meta = Some(serde_json::json!({"order_amount": 5000}));
        let once = Assessment::of(&item, &context(&names)).with_history(1, 2, 30);
        assert_eq!(
            kinds(&once),
            vec![SignalKind::HighValue, SignalKind::Negative]
        );
        assert_eq!(once.score(), 40);
        assert_eq!(once.severity(), Severity::Medium);
        let third = Assessment::of(&item, &context(&names)).with_history(3, 2, 30);
        let repeat = third
            .signals
            .iter()
            .find(|signal| signal.kind == SignalKind::Repeat)
            .expect("repeat");
        assert_eq!(repeat.points, 30);
        assert_eq!(repeat.detail, "30 天内第 3 条负面反馈");
        let tenth = Assessment::of(&item, &context(&names)).with_history(10, 2, 30);
        assert_eq!(tenth.score(), 15 + 25 + WEIGHT_REPEAT_MAX);
    }

    #[test]
    fn a_refund_is_a_candidate_even_without_negative_sentiment() {
        let names = HashMap::new();
        let mut item = analysed("颜色选错了，申请退款", Polarity::Neu, &[]);
        item.item.source = Source::Refund;
        item.item.reason_code = Some("不想要了".into());
        let assessment = Assessment::of(&item, &context(&names)).with_history(0, 2, 30);
        assert!(assessment.candidate && !assessment.negative);
        // 退款 in a refund request is the request, not a threat.
        assert_eq!(kinds(&assessment), vec![SignalKind::Refund]);
        assert_eq!(assessment.signals[0].detail, "退款/售后申请（不想要了）");
        assert_eq!(assessment.severity(), Severity::Low);
    }

    #[test]
    fn a_threat_counts_even_when_the_sentiment_was_missed() {
        let names = HashMap::new();
        let item = analysed("三天了还不发货，再拖就去12315", Polarity::Neu, &[]);
        let assessment = Assessment::of(&item, &context(&names)).with_history(0, 2, 30);
        assert!(assessment.candidate && !assessment.negative);
        assert_eq!(assessment.severity(), Severity::Medium);
    }
}
