//! What an alert says: a title and a Markdown body in Chinese, written once
//! when the alert fires and stored with it, so the history shows exactly
//! what was sent and every robot sends the same words.
//!
//! The body is the subset of Markdown both DingTalk and WeCom robots render
//! (headings, bold, lists, quotes, links). Customer text is quoted with the
//! Markdown-active characters replaced by their full-width forms, so a
//! review cannot inject links or formatting into an alert.

use serde::Serialize;

use super::evaluate::SpikeAssessment;
use super::rules::Severity;
use crate::store::alerts::AlertRecord;
use crate::store::outbox::OutboxMessage;

/// Evidence lines are cut to this many characters.
pub const EVIDENCE_CHARS: usize = 60;

/// The pre-filtered search page of the web UI: `{public_url}/#/search?…`.
pub fn search_link(public_url: &str, parameters: &[(&str, String)]) -> String {
    let query = serde_urlencoded::to_string(parameters).unwrap_or_default();
    format!("{}/#/search?{query}", public_url.trim_end_matches('/'))
}

/// `2026-11-23 14:05` in the deployment's time zone.
pub fn local_minute(unix_seconds: i64, utc_offset_seconds: i64) -> String {
    let offset = time::UtcOffset::from_whole_seconds(utc_offset_seconds as i32)
        .unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .map(|instant| instant.to_offset(offset))
        .and_then(|instant| {
            instant
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]"
                ))
                .ok()
        })
        .unwrap_or_else(|| unix_seconds.to_string())
}

fn utc_label(utc_offset_seconds: i64) -> String {
    let hours = utc_offset_seconds / 3600;
    let minutes = (utc_offset_seconds.abs() % 3600) / 60;
    if minutes == 0 {
        format!("UTC{hours:+}")
    } else {
        format!("UTC{hours:+}:{minutes:02}")
    }
}

/// Customer text made inert for Markdown and cut to `max_chars`.
pub fn quote(text: &str, max_chars: usize) -> String {
    let mut quoted = String::new();
    for (count, ch) in text.chars().enumerate() {
        if count == max_chars {
            quoted.push('…');
            break;
        }
        let safe = match ch {
            '*' => '＊',
            '_' => '＿',
            '[' => '［',
            ']' => '］',
            '(' => '（',
            ')' => '）',
            '#' => '＃',
            '<' => '＜',
            '>' => '＞',
            '`' => '｀',
            '|' => '｜',
            '\\' => '＼',
            '\n' | '\r' | '\t' => ' ',
            other => other,
        };
        quoted.push(safe);
    }
    quoted.trim().to_string()
}

fn library_name_zh(library: &str) -> String {
    match library {
        "product" => "商品".to_string(),
        "logistics" => "物流".to_string(),
        "service" => "服务".to_string(),
        other => other.to_string(),
    }
}

/// A title and a body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub title: String,
    pub text: String,
}

pub struct Window {
    pub from: i64,
    pub to: i64,
    pub minutes: i64,
    pub utc_offset_seconds: i64,
}

impl Window {
    fn line(&self) -> String {
        format!(
            "- 时间窗：{} — {}（{}，{} 分钟）",
            local_minute(self.from, self.utc_offset_seconds),
            local_minute(self.to, self.utc_offset_seconds),
            utc_label(self.utc_offset_seconds),
            self.minutes
        )
    }
}

fn evidence_lines(evidence: &[String]) -> String {
    if evidence.is_empty() {
        return String::new();
    }
    let mut lines = String::from("\n**原声摘录**\n\n");
    for snippet in evidence {
        lines.push_str(&format!("> {}\n\n", quote(snippet, EVIDENCE_CHARS)));
    }
    lines
}

/// What a tag spike alert reports.
pub struct SpikeFacts<'a> {
    pub tag: &'a str,
    pub tag_name: &'a str,
    pub assessment: &'a SpikeAssessment,
    pub baseline_days: i64,
}

pub fn tag_spike(
    severity: Severity,
    facts: &SpikeFacts<'_>,
    window: &Window,
    evidence: &[String],
    link: &str,
) -> Message {
    let SpikeFacts {
        tag,
        tag_name,
        assessment,
        baseline_days,
    } = facts;
    let title = format!(
        "【{}】{tag_name} 差评激增：{} 分钟 {} 条",
        severity.label_zh(),
        window.minutes,
        assessment.current
    );
    let text = format!(
        "### {title}\n\n\
         - 标签：{tag_name}（{tag}）\n\
         - 本时段差评提及：**{current}** 条\n\
         - 基线：过去 {baseline_days} 天同一时段平均 {mean:.1} 条（标准差 {stddev:.1}），触发线 {threshold:.1} 条\n\
         {window_line}\n\
         {evidence}\n[查看明细]({link})\n",
        current = assessment.current,
        mean = assessment.mean,
        stddev = assessment.stddev,
        threshold = assessment.threshold,
        window_line = window.line(),
        evidence = evidence_lines(evidence),
    );
    Message { title, text }
}

pub struct RateFacts {
    pub library: String,
    pub negative: u64,
    pub mentions: u64,
    pub rate: f64,
    pub threshold: f64,
}

pub fn library_negative_rate(
    severity: Severity,
    facts: &RateFacts,
    window: &Window,
    evidence: &[String],
    link: &str,
) -> Message {
    let library_name = library_name_zh(&facts.library);
    let title = format!(
        "【{}】{library_name}负面占比 {:.0}%",
        severity.label_zh(),
        facts.rate * 100.0
    );
    let text = format!(
        "### {title}\n\n\
         - 标签库：{library_name}（{library}）\n\
         - 负面提及 **{negative}** / 全部提及 {mentions}，占比 **{rate:.1}%**（阈值 {threshold:.0}%）\n\
         {window_line}\n\
         {evidence}\n[查看明细]({link})\n",
        library = facts.library,
        negative = facts.negative,
        mentions = facts.mentions,
        rate = facts.rate * 100.0,
        threshold = facts.threshold * 100.0,
        window_line = window.line(),
        evidence = evidence_lines(evidence),
    );
    Message { title, text }
}

pub struct SevereFacts<'a> {
    pub item_id: i64,
    pub words: &'a [String],
    pub sentences: &'a [String],
    pub source: &'a str,
    pub channel: &'a str,
    pub created_at: i64,
    pub consumer_id: Option<&'a str>,
    pub order_id: Option<&'a str>,
    pub utc_offset_seconds: i64,
}

pub fn severe(severity: Severity, facts: &SevereFacts<'_>, link: &str) -> Message {
    let words = facts
        .words
        .iter()
        .map(|word| quote(word, 20))
        .collect::<Vec<_>>()
        .join("、");
    let title = format!("【{}】严重信号：{words}", severity.label_zh());
    let mut who = format!(
        "- 来源：{} / {}，反馈 #{}，{}\n",
        quote(facts.source, 20),
        quote(facts.channel, 40),
        facts.item_id,
        local_minute(facts.created_at, facts.utc_offset_seconds)
    );
    if let Some(consumer) = facts.consumer_id {
        who.push_str(&format!("- 顾客：{}\n", quote(consumer, 64)));
    }
    if let Some(order) = facts.order_id {
        who.push_str(&format!("- 订单：{}\n", quote(order, 64)));
    }
    let text = format!(
        "### {title}\n\n{who}{evidence}\n[查看明细]({link})\n",
        evidence = evidence_lines(facts.sentences),
    );
    Message { title, text }
}

/// Every robot message carries this, so a DingTalk robot secured by
/// keyword (自定义关键词) can be set to it.
pub const ROBOT_KEYWORD: &str = "心声告警";

/// Reads an outbox payload back as the alert it was written from; a
/// payload that does not parse (written by a later version, say) is shown
/// as its JSON rather than blocking the queue behind it.
fn alert_of(message: &OutboxMessage) -> AlertRecord {
    serde_json::from_value(message.payload.clone()).unwrap_or_else(|_| {
        let raw = quote(&message.payload.to_string(), 300);
        AlertRecord {
            id: message.id,
            rule: String::new(),
            key: String::new(),
            kind: String::new(),
            severity: String::new(),
            title: format!("{ROBOT_KEYWORD} #{}", message.id),
            text: raw,
            detail: serde_json::Value::Null,
            link: String::new(),
            fired_at: message.created_at,
            targets: Vec::new(),
        }
    })
}

/// Cuts `text` to at most `max_bytes` bytes at a character boundary.
fn cut_to_bytes(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One robot message for a batch of alerts, at most `max_bytes` of text.
/// One alert: its own title and body. Several: a header and the bodies one
/// after the other, or, when they do not fit, one line per alert with its
/// link. Links are never cut off.
pub fn robot_markdown(messages: &[OutboxMessage], max_bytes: usize) -> Message {
    let alerts: Vec<AlertRecord> = messages.iter().map(alert_of).collect();
    let footer = format!("\n\n— {ROBOT_KEYWORD}");
    let title = match alerts.as_slice() {
        [only] => only.title.clone(),
        [first, ..] => format!("{ROBOT_KEYWORD} {} 条：{}", alerts.len(), first.title),
        [] => ROBOT_KEYWORD.to_string(),
    };
    let full = if alerts.len() == 1 {
        format!("{}{footer}", alerts[0].text.trim_end())
    } else {
        let bodies: Vec<&str> = alerts.iter().map(|alert| alert.text.trim_end()).collect();
        format!(
            "#### {ROBOT_KEYWORD} · {} 条\n\n{}{footer}",
            alerts.len(),
            bodies.join("\n\n---\n\n")
        )
    };
    if full.len() <= max_bytes {
        return Message { title, text: full };
    }
    let mut summary = if alerts.len() == 1 {
        String::new()
    } else {
        format!("#### {ROBOT_KEYWORD} · {} 条\n\n", alerts.len())
    };
    for alert in &alerts {
        let link = if alert.link.is_empty() {
            String::new()
        } else {
            format!(" [查看明细]({})", alert.link)
        };
        summary.push_str(&format!("- **{}**{link}\n", alert.title));
    }
    let summary_with_footer = format!("{}{footer}", summary.trim_end());
    let text = cut_to_bytes(&summary_with_footer, max_bytes).to_string();
    Message { title, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CST: i64 = 8 * 3600;

    #[test]
    fn links_are_encoded_search_pages() {
        let link = search_link(
            "http://127.0.0.1:8080/",
            &[
                ("tag", "logistics.speed".to_string()),
                ("polarity", "neg".to_string()),
                ("from", "2026-11-23T14:00:00+08:00".to_string()),
            ],
        );
        assert_eq!(
            link,
            "http://127.0.0.1:8080/#/search?tag=logistics.speed&polarity=neg&from=2026-11-23T14%3A00%3A00%2B08%3A00"
        );
    }

    #[test]
    fn customer_text_cannot_inject_markdown() {
        assert_eq!(
            quote("[点我](http://evil) **粗**\n# 标题", 100),
            "［点我］（http://evil） ＊＊粗＊＊ ＃ 标题"
        );
        assert_eq!(quote("一二三四五", 3), "一二三…");
    }

    #[test]
    fn spike_message_has_counts_baseline_window_evidence_and_link() {
        let assessment = SpikeAssessment {
            current: 12,
            baseline: vec![1, 0, 2, 1, 1, 0, 2],
            mean: 1.0,
            stddev: 0.76,
            threshold: 5.0,
            fires: true,
        };
        let window = Window {
            from: 1_795_150_800,
            to: 1_795_154_400,
            minutes: 60,
            utc_offset_seconds: CST,
        };
        let message = tag_spike(
            Severity::Warning,
            &SpikeFacts {
                tag: "logistics.speed",
                tag_name: "配送时效",
                assessment: &assessment,
                baseline_days: 7,
            },
            &window,
            &["物流太慢了，等了五天".to_string()],
            "http://x/#/search?tag=logistics.speed",
        );
        assert_eq!(message.title, "【警告】配送时效 差评激增：60 分钟 12 条");
        for expected in [
            "**12** 条",
            "过去 7 天同一时段平均 1.0 条（标准差 0.8），触发线 5.0 条",
            "2026-11-20 13:00 — 2026-11-20 14:00（UTC+8，60 分钟）",
            "> 物流太慢了，等了五天",
            "[查看明细](http://x/#/search?tag=logistics.speed)",
        ] {
            assert!(
                message.text.contains(expected),
                "{expected} in {}",
                message.text
            );
        }
    }

    #[test]
    fn severe_message_names_words_item_and_sentence() {
        let words = vec!["12315".to_string(), "投诉".to_string()];
        let sentences = vec!["再不处理我就打12315投诉".to_string()];
        let message = severe(
            Severity::Critical,
            &SevereFacts {
                item_id: 42,
                words: &words,
                sentences: &sentences,
                source: "chat",
                channel: "wecom",
                created_at: 1_795_150_800,
                consumer_id: Some("u-1"),
                order_id: None,
                utc_offset_seconds: CST,
            },
            "http://x",
        );
        assert_eq!(message.title, "【严重】严重信号：12315、投诉");
        assert!(message.text.contains("反馈 #42"));
        assert!(message.text.contains("> 再不处理我就打12315投诉"));
        assert!(message.text.contains("顾客：u-1"));
    }

    fn outbox(id: i64, title: &str, text: &str) -> OutboxMessage {
        OutboxMessage {
            id,
            target: "alerts.ops".into(),
            payload: serde_json::json!({
                "id": id, "rule": "r", "key": format!("r:{id}"), "kind": "tag_spike",
                "severity": "warning", "title": title, "text": text,
                "detail": {}, "link": format!("http://x/{id}"), "fired_at": 0, "targets": ["ops"]
            }),
            created_at: 0,
            attempts: 0,
        }
    }

    #[test]
    fn robot_messages_batch_alerts_and_fall_back_to_one_line_each() {
        let one = robot_markdown(&[outbox(1, "甲", "### 甲\n\n正文")], 4_000);
        assert_eq!(one.title, "甲");
        assert_eq!(one.text, "### 甲\n\n正文\n\n— 心声告警");

        let two = robot_markdown(
            &[outbox(1, "甲", "### 甲"), outbox(2, "乙", "### 乙")],
            4_000,
        );
        assert_eq!(two.title, "心声告警 2 条：甲");
        assert_eq!(
            two.text,
            "#### 心声告警 · 2 条\n\n### 甲\n\n---\n\n### 乙\n\n— 心声告警"
        );

        let long = "很长".repeat(1_000);
        let compact = robot_markdown(&[outbox(1, "甲", &long), outbox(2, "乙", &long)], 4_000);
        assert_eq!(
            compact.text,
            "#### 心声告警 · 2 条\n\n- **甲** [查看明细](http://x/1)\n- **乙** [查看明细](http://x/2)\n\n— 心声告警"
        );
    }

    #[test]
    fn an_unreadable_payload_is_shown_not_stuck() {
        let message = OutboxMessage {
            id: 7,
            target: "alerts.ops".into(),
            payload: serde_json::json!({"unexpected": true}),
            created_at: 0,
            attempts: 0,
        };
        let markdown = robot_markdown(&[message], 4_000);
        assert_eq!(markdown.title, "心声告警 #7");
        assert!(markdown.text.contains("unexpected"));
    }
}
