//! Call transcripts: JSON segments, SRT and WebVTT.
//!
//! A transcript becomes the `segments` of one `call` item. Parsing keeps the
//! recogniser's raw words (only markup and speaker labels are removed), so
//! the stored transcript is what the recogniser heard; [`clean_asr`] strips
//! fillers and pauses when the item is analysed.
//!
//! # Who is speaking
//!
//! A segment's speaker comes from, in order: the JSON `speaker` (or `role`)
//! field, a WebVTT voice tag (`<v 客服>`), or a label at the start of the
//! text (`客户：`, `agent:`, `[客服]`, `【用户】`). A segment without any of
//! these:
//!
//! - inherits the speaker of the segment before it: human-edited transcripts
//!   label a turn once and let its following cues continue it;
//! - when the file carries no label at all, is the customer: an unlabelled
//!   recording is a mono channel, typically a customer's voicemail;
//! - when it comes before the first label of a labelled file, is the system:
//!   such leading speech is usually the IVR greeting or recording notice, and
//!   system speech is never tagged, so a wrong guess costs a missed tag
//!   rather than a complaint the customer never made.

use std::path::Path;

use serde_json::{Map, Value};

use crate::feedback::{Segment, Speaker};
use crate::nlp::clauses::is_cjk;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptFormat {
    Json,
    Srt,
    WebVtt,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TranscriptError {
    #[error("transcript is not valid UTF-8 (byte {offset})")]
    NotUtf8 { offset: usize },
    #[error("transcript JSON is invalid at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("transcript JSON must be an object with a `segments` array, or an array of segments")]
    JsonShape,
    #[error("segment {index}: {message}")]
    Segment { index: usize, message: String },
    #[error("cue {cue} (line {line}): {message}")]
    Cue {
        cue: usize,
        line: usize,
        message: String,
    },
    #[error("transcript has no speech")]
    Empty,
}

/// By extension first; otherwise by content, for recordings exported
/// without one.
pub fn detect_format(path: &Path, bytes: &[u8]) -> Option<TranscriptFormat> {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("json") => return Some(TranscriptFormat::Json),
        Some("srt") => return Some(TranscriptFormat::Srt),
        Some("vtt") => return Some(TranscriptFormat::WebVtt),
        _ => {}
    }
    // Sniffing needs only the start; a cut through a UTF-8 sequence is fine.
    let head = &bytes[..bytes.len().min(4096)];
    let head = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(&head[..error.valid_up_to()]).unwrap_or_default(),
    };
    let head = head.trim_start_matches('\u{FEFF}').trim_start();
    if is_webvtt_header(head.lines().next().unwrap_or_default()) {
        return Some(TranscriptFormat::WebVtt);
    }
    let mut lines = head.lines().map(str::trim).filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default();
    let second = lines.next().unwrap_or_default();
    let numeric_cue = !first.is_empty() && first.bytes().all(|byte| byte.is_ascii_digit());
    if (numeric_cue && second.contains("-->")) || first.contains("-->") {
        return Some(TranscriptFormat::Srt);
    }
    if head.starts_with('{') && head.contains("\"segments\"") {
        return Some(TranscriptFormat::Json);
    }
    None
}

fn is_webvtt_header(line: &str) -> bool {
    line.strip_prefix("WEBVTT")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// The segments of a transcript in file order, one per cue or JSON segment
/// (a dialogue cue with two labelled speakers gives two), none merged and
/// none cleaned. A file with no speech at all is an error rather than an
/// empty call.
pub fn parse_transcript(
    bytes: &[u8],
    format: TranscriptFormat,
) -> Result<Vec<Segment>, TranscriptError> {
    let text = std::str::from_utf8(bytes).map_err(|error| TranscriptError::NotUtf8 {
        offset: error.valid_up_to(),
    })?;
    let text = text.trim_start_matches('\u{FEFF}');
    let parts = match format {
        TranscriptFormat::Json => parse_json(text)?,
        TranscriptFormat::Srt => parse_cues(text, false)?,
        TranscriptFormat::WebVtt => parse_cues(text, true)?,
    };
    let segments = resolve_speakers(parts);
    if segments.is_empty() {
        return Err(TranscriptError::Empty);
    }
    Ok(segments)
}

/// A segment before the speaker rule has filled in the unlabelled ones.
struct Part {
    speaker: Option<Speaker>,
    text: String,
    start_ms: Option<u64>,
    end_ms: Option<u64>,
}

fn resolve_speakers(parts: Vec<Part>) -> Vec<Segment> {
    let labelled = parts.iter().any(|part| part.speaker.is_some());
    let mut current = if labelled {
        Speaker::System
    } else {
        Speaker::Customer
    };
    // A label on an otherwise empty cue ("客户：" alone) still opens the
    // turn that the next cues continue.
    parts
        .into_iter()
        .filter_map(|part| {
            if let Some(speaker) = part.speaker {
                current = speaker;
            }
            (!part.text.trim().is_empty()).then(|| Segment {
                speaker: current,
                text: part.text,
                start_ms: part.start_ms,
                end_ms: part.end_ms,
                at: None,
                message_id: None,
                kind: None,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Speaker labels

const CUSTOMER_LABELS: &[&str] = &[
    "客户",
    "顾客",
    "用户",
    "买家",
    "来电人",
    "customer",
    "user",
    "caller",
    "buyer",
];
// "人工客服" before "人工" so the longer label is the one stripped.
const AGENT_LABELS: &[&str] = &[
    "人工客服",
    "客服",
    "坐席",
    "商家",
    "卖家",
    "人工",
    "agent",
    "staff",
    "seller",
];
const SYSTEM_LABELS: &[&str] = &["系统", "机器人", "语音导航", "system", "ivr", "bot"];

fn label_table() -> [(&'static [&'static str], Speaker); 3] {
    [
        (CUSTOMER_LABELS, Speaker::Customer),
        (AGENT_LABELS, Speaker::Agent),
        (SYSTEM_LABELS, Speaker::System),
    ]
}

/// `text` starts with `label`, ASCII letters compared without case; returns the rest.
fn strip_label<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let head = text.get(..label.len())?;
    head.eq_ignore_ascii_case(label)
        .then(|| &text[label.len()..])
}

/// The speaker a whole label names (a JSON `speaker` value).
fn speaker_named(name: &str) -> Option<Speaker> {
    let name = name.trim();
    label_table().into_iter().find_map(|(labels, speaker)| {
        labels
            .iter()
            .any(|label| name.eq_ignore_ascii_case(label))
            .then_some(speaker)
    })
}

/// The speaker a name starts with (`客服小王`, `Agent 02`): voice tags and
/// bracketed labels are unambiguous, so a name after the role is allowed.
fn speaker_starting(name: &str) -> Option<Speaker> {
    let name = name.trim();
    label_table().into_iter().find_map(|(labels, speaker)| {
        labels
            .iter()
            .any(|label| strip_label(name, label).is_some())
            .then_some(speaker)
    })
}

fn is_inline_space(ch: char) -> bool {
    ch.is_whitespace() && ch != '\n'
}

/// Splits a speaker label off the start of a line: `客户：`, `客户 :`,
/// `agent:`, `坐席1：`, `[客服]`, `【用户】：`. A bare word without colon or
/// brackets is not a label: "用户说..." is speech.
fn split_speaker_prefix(text: &str) -> Option<(Speaker, &str)> {
    let trimmed = text.trim_start_matches(is_inline_space);
    let skip_colon = |rest: &str| -> Option<usize> {
        let spaced = rest.trim_start_matches(is_inline_space);
        let colon = spaced.strip_prefix([':', '：'])?;
        Some(rest.len() - colon.trim_start_matches(is_inline_space).len())
    };
    let mut chars = trimmed.chars();
    if let Some(open) = chars.next() {
        let close = match open {
            '[' => Some(']'),
            '【' => Some('】'),
            '(' => Some(')'),
            '（' => Some('）'),
            _ => None,
        };
        if let Some(close) = close {
            let inner = chars.as_str();
            let end = inner.find(close)?;
            let label = &inner[..end];
            if label.chars().count() > 12 {
                return None;
            }
            let speaker = speaker_starting(label)?;
            let rest = &inner[end + close.len_utf8()..];
            let rest = match skip_colon(rest) {
                Some(skipped) => &rest[skipped..],
                None => rest.trim_start_matches(is_inline_space),
            };
            return Some((speaker, rest));
        }
    }
    for (labels, speaker) in label_table() {
        for label in labels {
            let Some(rest) = strip_label(trimmed, label) else {
                continue;
            };
            // A short ASCII tag may follow the role: 坐席1, agent_02, 客服A.
            let tag_len = rest
                .char_indices()
                .take_while(|(_, ch)| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-'))
                .map(|(index, ch)| index + ch.len_utf8())
                .last()
                .unwrap_or(0);
            if tag_len > 8 {
                continue;
            }
            let rest = &rest[tag_len..];
            if let Some(skipped) = skip_colon(rest) {
                return Some((speaker, &rest[skipped..]));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------
// JSON

fn parse_json(text: &str) -> Result<Vec<Part>, TranscriptError> {
    let value: Value = serde_json::from_str(text).map_err(|error| TranscriptError::Json {
        line: error.line(),
        column: error.column(),
        message: error.to_string(),
    })?;
    let segments = match value {
        Value::Array(segments) => segments,
        Value::Object(mut object) => match object.remove("segments") {
            Some(Value::Array(segments)) => segments,
            _ => return Err(TranscriptError::JsonShape),
        },
        _ => return Err(TranscriptError::JsonShape),
    };
    segments
        .iter()
        .enumerate()
        .map(|(index, segment)| {
            json_segment(segment).map_err(|message| TranscriptError::Segment { index, message })
        })
        .collect()
}

fn json_segment(value: &Value) -> Result<Part, String> {
    let Value::Object(object) = value else {
        return Err("each segment must be a JSON object".into());
    };
    let text = match object.get("text") {
        Some(Value::String(text)) => text.as_str(),
        Some(Value::Null) | None => "",
        Some(_) => return Err("`text` must be a string".into()),
    };
    let named = match object.get("speaker").or_else(|| object.get("role")) {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if name.trim().is_empty() => None,
        Some(Value::String(name)) => Some(speaker_named(name).ok_or_else(|| {
            format!("unknown speaker `{name}`; expected 客户/customer, 客服/agent or 系统/system")
        })?),
        Some(_) => return Err("`speaker` must be a string".into()),
    };
    let (speaker, text) = match named {
        Some(speaker) => (Some(speaker), text),
        None => match split_speaker_prefix(text) {
            Some((speaker, rest)) => (Some(speaker), rest),
            None => (None, text),
        },
    };
    let start_ms = json_time(object, "start")?;
    let end_ms = json_time(object, "end")?;
    check_order(start_ms, end_ms)?;
    Ok(Part {
        speaker,
        text: text.trim().to_string(),
        start_ms,
        end_ms,
    })
}

/// `{name}_ms` in milliseconds wins over `{name}` in seconds or as a clock time.
fn json_time(object: &Map<String, Value>, name: &str) -> Result<Option<u64>, String> {
    let ms_key = format!("{name}_ms");
    if let Some(value) = object.get(&ms_key).filter(|value| !value.is_null()) {
        return number_ms(value, 1.0)
            .map(Some)
            .ok_or_else(|| format!("`{ms_key}` must be a non-negative number of milliseconds"));
    }
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(clock)) => parse_timestamp(clock)
            .map(Some)
            .ok_or_else(|| format!("`{name}` `{clock}` is not seconds or HH:MM:SS.mmm")),
        Some(value) => number_ms(value, 1000.0)
            .map(Some)
            .ok_or_else(|| format!("`{name}` must be a non-negative number of seconds")),
    }
}

fn number_ms(value: &Value, scale: f64) -> Option<u64> {
    let number = match value {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    let ms = (number * scale).round();
    // Beyond ~300 years a "call offset" is garbage, and the cast would saturate.
    (ms.is_finite() && (0.0..1e13).contains(&ms)).then_some(ms as u64)
}

fn check_order(start_ms: Option<u64>, end_ms: Option<u64>) -> Result<(), String> {
    match (start_ms, end_ms) {
        (Some(start), Some(end)) if end < start => {
            Err(format!("ends ({end} ms) before it starts ({start} ms)"))
        }
        _ => Ok(()),
    }
}

/// `HH:MM:SS.mmm`, `MM:SS,mmm` (SRT's comma), `SS.mmm`; hours may exceed 99.
pub(crate) fn parse_timestamp(value: &str) -> Option<u64> {
    let value = value.trim();
    let (clock, fraction) = match value.rfind(['.', ',']) {
        Some(index) => (&value[..index], Some(&value[index + 1..])),
        None => (value, None),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    let mut seconds: u64 = 0;
    for (index, part) in parts.iter().enumerate() {
        if part.is_empty() || part.len() > 9 || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let number: u64 = part.parse().ok()?;
        if index > 0 && number >= 60 {
            return None;
        }
        seconds = seconds.checked_mul(60)?.checked_add(number)?;
    }
    let millis = match fraction {
        None => 0,
        Some(digits) => {
            if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            // ".5" is half a second: pad to three digits, drop sub-millisecond ones.
            let padded = format!("{digits:0<3}");
            padded[..3].parse::<u64>().ok()?
        }
    };
    seconds.checked_mul(1000)?.checked_add(millis)
}

// ---------------------------------------------------------------------------
// SRT and WebVTT

fn parse_cues(text: &str, webvtt: bool) -> Result<Vec<Part>, TranscriptError> {
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalised.split('\n').collect();
    let mut parts: Vec<Part> = Vec::new();
    let mut cue = 0usize;
    let mut index = 0usize;
    let mut first_block = true;
    while index < lines.len() {
        if lines[index].trim().is_empty() {
            index += 1;
            continue;
        }
        let start = index;
        while index < lines.len() && !lines[index].trim().is_empty() {
            index += 1;
        }
        let block = &lines[start..index];
        let is_first = std::mem::take(&mut first_block);
        let head = block[0].trim();
        if is_first && is_webvtt_header(head) {
            continue;
        }
        if webvtt && !head.contains("-->") && is_vtt_metadata_block(head) {
            continue;
        }
        cue += 1;
        let timing_at = if head.contains("-->") {
            Some(0)
        } else if block.get(1).is_some_and(|line| line.contains("-->")) {
            Some(1)
        } else {
            None
        };
        let Some(timing_at) = timing_at else {
            // A cue number whose timing and text went missing (a truncated
            // file) carries nothing to keep.
            if block.len() == 1 && head.bytes().all(|byte| byte.is_ascii_digit()) {
                cue -= 1;
                continue;
            }
            // SRT editors let blank lines slip into cue text; such a block
            // continues the cue before it rather than being lost.
            if let Some(previous) = parts.last_mut() {
                let continuation = cue_text(block, webvtt);
                if !continuation.is_empty() {
                    if !previous.text.is_empty() {
                        previous.text.push(' ');
                    }
                    previous.text.push_str(&continuation);
                }
                cue -= 1;
                continue;
            }
            return Err(TranscriptError::Cue {
                cue,
                line: start + 1,
                message: "no `-->` timing line".into(),
            });
        };
        let timing_line = start + timing_at + 1;
        let (start_ms, end_ms) =
            parse_timing(block[timing_at]).map_err(|message| TranscriptError::Cue {
                cue,
                line: timing_line,
                message,
            })?;
        check_order(Some(start_ms), Some(end_ms)).map_err(|message| TranscriptError::Cue {
            cue,
            line: timing_line,
            message,
        })?;
        parts.extend(cue_parts(&block[timing_at + 1..], webvtt, start_ms, end_ms));
    }
    Ok(parts)
}

fn is_vtt_metadata_block(head: &str) -> bool {
    ["NOTE", "STYLE", "REGION"].iter().any(|keyword| {
        head.strip_prefix(keyword)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    })
}

/// `00:00:01,500 --> 00:00:03,200 X1:40` (SRT) or `01.500 --> 03.200 align:start` (WebVTT).
fn parse_timing(line: &str) -> Result<(u64, u64), String> {
    let invalid = || format!("invalid timing `{}`", line.trim());
    let (start, rest) = line.split_once("-->").ok_or_else(invalid)?;
    let end = rest.split_whitespace().next().ok_or_else(invalid)?;
    let start = parse_timestamp(start).ok_or_else(invalid)?;
    let end = parse_timestamp(end).ok_or_else(invalid)?;
    Ok((start, end))
}

/// One cue's text lines, joined. Line breaks in a cue are display wraps or
/// pauses, so they become spaces, which [`clean_asr`] reads as pauses.
fn cue_text(lines: &[&str], webvtt: bool) -> String {
    lines
        .iter()
        .map(|line| markup_free(line, webvtt).0)
        .map(|line| line.trim().to_string())
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A cue usually is one segment; a dialogue cue whose lines carry their own
/// labels (`客户：...` / `客服：...`) is one segment per label, sharing the
/// cue's timing, so that nobody's words are put in another's mouth.
fn cue_parts(lines: &[&str], webvtt: bool, start_ms: u64, end_ms: u64) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    for line in lines {
        let (text, voice) = markup_free(line, webvtt);
        // Dialogue dashes: "- 客户：..." in two-speaker subtitles.
        let text = text.trim();
        let undashed = text
            .strip_prefix(['-', '–', '—'])
            .map(str::trim_start)
            .unwrap_or(text);
        let (speaker, text) = match split_speaker_prefix(undashed) {
            Some((speaker, rest)) => (Some(speaker), rest.trim()),
            None => (voice, text),
        };
        match parts.last_mut() {
            Some(current) if speaker.is_none() || speaker == current.speaker => {
                if !text.is_empty() {
                    if !current.text.is_empty() {
                        current.text.push(' ');
                    }
                    current.text.push_str(text);
                }
            }
            _ => parts.push(Part {
                speaker,
                text: text.to_string(),
                start_ms: Some(start_ms),
                end_ms: Some(end_ms),
            }),
        }
    }
    parts
}

/// Removes markup from a cue line: WebVTT and SRT tags (`<i>`, `<c.x>`,
/// `<00:00:01.000>`, `</v>`), SRT's `{\an8}` positioning and, for WebVTT,
/// character references. Returns the speaker of a `<v ...>` voice tag.
fn markup_free(line: &str, webvtt: bool) -> (String, Option<Speaker>) {
    let mut out = String::with_capacity(line.len());
    let mut voice = None;
    let mut rest = line;
    while let Some(ch) = rest.chars().next() {
        if ch == '<' {
            let inner = &rest[1..];
            let looks_like_tag = inner
                .trim_start_matches('/')
                .chars()
                .next()
                .is_some_and(|next| next.is_ascii_alphanumeric());
            let end = inner.find(['>', '<']);
            if let (true, Some(end)) = (looks_like_tag, end) {
                if inner[end..].starts_with('>') {
                    let tag = &inner[..end];
                    if let Some(annotation) = voice_annotation(tag) {
                        voice = voice.or_else(|| speaker_starting(annotation));
                    }
                    rest = &inner[end + 1..];
                    continue;
                }
            }
        }
        if ch == '{' && rest[1..].starts_with('\\') {
            if let Some(end) = rest.find('}') {
                rest = &rest[end + 1..];
                continue;
            }
        }
        if webvtt && ch == '&' {
            let entities = [
                ("&amp;", "&"),
                ("&lt;", "<"),
                ("&gt;", ">"),
                ("&nbsp;", " "),
                ("&lrm;", ""),
                ("&rlm;", ""),
                ("&quot;", "\""),
                ("&apos;", "'"),
            ];
            if let Some((entity, replacement)) =
                entities.iter().find(|(entity, _)| rest.starts_with(entity))
            {
                out.push_str(replacement);
                rest = &rest[entity.len()..];
                continue;
            }
        }
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    (out, voice)
}

/// `v 客户` or `v.loud 客户` → `客户`.
fn voice_annotation(tag: &str) -> Option<&str> {
    let rest = tag.strip_prefix('v')?;
    let rest = if let Some(classes) = rest.strip_prefix('.') {
        let end = classes.find(char::is_whitespace)?;
        &classes[end..]
    } else {
        rest
    };
    rest.starts_with(char::is_whitespace)
        .then(|| rest.trim())
        .filter(|name| !name.is_empty())
}

// ---------------------------------------------------------------------------
// ASR clean-up

/// Characters that are hesitation sounds when they stand alone.
const FILLER_CHARS: &[char] = &[
    '嗯', '恩', '啊', '呃', '额', '哦', '噢', '唉', '哎', '嘛', '诶', '欸', '呐', '喂',
];
/// Fillers also stripped from the start of a phrase. 额 (额外), 哎 (哎呀),
/// 嘛, 呐 and 喂 (喂养) open real words, so they go only when they stand
/// alone; a lone 喂 is a caller's "hello?".
const LEADING_FILLERS: &[char] = &['嗯', '恩', '啊', '呃', '哦', '噢', '唉', '诶', '欸'];
/// Fillers stripped from the end of a phrase; 啊/哦/嘛 there are sentence
/// particles that belong to the words ("太慢了啊").
const TRAILING_FILLERS: &[char] = &['嗯', '恩', '呃'];
/// Words that are content as often as hesitation ("那个快递员" is a
/// determiner); they are removed only where they cannot be content.
const HESITATION_WORDS: &[&str] = &["那个", "这个", "就是", "然后"];
/// A hesitation word right before a pronoun is not a determiner ("那个我想问").
const PRONOUNS: &[char] = &['我', '你', '您', '他', '她', '咱'];

/// Cleans one ASR segment for analysis, so that recogniser noise produces
/// no tags:
///
/// - filler sounds (嗯, 啊, 呃, 额, 哦, 唉, 嘛, ...) go when they stand alone
///   or repeat ("嗯嗯"), and at the start of a phrase ("嗯我想问");
/// - 那个/这个/就是/然后 go when they are hesitation: standing alone between
///   pauses, repeated ("那个那个"), or opening a phrase before a pronoun or
///   another filler ("那个我想问"); "那个快递员态度很差" keeps its 那个;
/// - pauses (spaces between Chinese characters) become '，' so the clause
///   splitter sees them. Recognisers that put a space between every *word*
///   ("快递 一直 没到") are told apart by their short phrases, and their
///   words are joined instead: a comma between every word would separate
///   each complaint from its subject. A run of two or more spaces is always
///   a pause.
///
/// Returns an empty string when nothing but noise was said; callers drop
/// such segments.
pub fn clean_asr(text: &str) -> String {
    let tokens = tokenise(text);
    let cleaned: Vec<Token> = tokens
        .into_iter()
        .filter_map(|token| match token {
            Token::Words(words) => clean_phrase(&words).map(Token::Words),
            gap => Some(gap),
        })
        .collect();
    let phrase_lengths: Vec<usize> = cleaned
        .iter()
        .filter_map(|token| match token {
            Token::Words(words) if words.chars().any(is_cjk) => Some(words.chars().count()),
            _ => None,
        })
        .collect();
    let word_segmented = phrase_lengths.len() >= 3
        && (phrase_lengths.iter().sum::<usize>() as f64) < 3.0 * phrase_lengths.len() as f64;

    let mut out = String::with_capacity(text.len());
    let mut gap = Gap::default();
    for token in cleaned {
        match token {
            Token::Gap(next) => gap.absorb(&next),
            Token::Words(words) => {
                if let (Some(before), Some(after)) = (out.chars().last(), words.chars().next()) {
                    out.push_str(gap.separator(before, after, word_segmented));
                }
                out.push_str(&words);
                gap = Gap::default();
            }
        }
    }
    if !out.is_empty() {
        if let Some(terminal) = gap.punctuation.filter(|ch| "。！？!?…".contains(*ch)) {
            out.push(terminal);
        }
    }
    out
}

enum Token {
    Words(String),
    /// Spaces and pause punctuation between phrases.
    Gap(String),
}

/// The pause between two kept phrases, summed over the phrases dropped in between.
#[derive(Default)]
struct Gap {
    punctuation: Option<char>,
    long_pause: bool,
}

impl Gap {
    fn absorb(&mut self, gap: &str) {
        if self.punctuation.is_none() {
            self.punctuation = gap.chars().find(|ch| !ch.is_whitespace());
        }
        self.long_pause |= gap.chars().filter(|ch| ch.is_whitespace()).count() >= 2;
    }

    fn separator(&self, before: char, after: char, word_segmented: bool) -> &'static str {
        if let Some(punctuation) = self.punctuation {
            return punctuation_str(punctuation);
        }
        if !(is_cjk(before) && is_cjk(after)) {
            " "
        } else if word_segmented && !self.long_pause {
            ""
        } else {
            "，"
        }
    }
}

fn punctuation_str(ch: char) -> &'static str {
    match ch {
        '，' => "，",
        ',' => ",",
        '。' => "。",
        '.' => ".",
        '！' => "！",
        '!' => "!",
        '？' => "？",
        '?' => "?",
        '、' => "、",
        '；' => "；",
        ';' => ";",
        '：' => "：",
        ':' => ":",
        '…' => "…",
        _ => "，",
    }
}

fn is_pause_punctuation(ch: char) -> bool {
    matches!(
        ch,
        '，' | '。' | '！' | '？' | '、' | '；' | '：' | '…' | '～' | '~'
    )
}

/// ASCII punctuation pauses too, except inside numbers and names ("3.5",
/// "10:30", "1,000", "x.com").
fn is_ascii_pause(ch: char, before: Option<char>, after: Option<char>) -> bool {
    matches!(ch, ',' | '.' | '!' | '?' | ';' | ':')
        && !(before.is_some_and(|c| c.is_ascii_alphanumeric())
            && after.is_some_and(|c| c.is_ascii_alphanumeric()))
}

fn tokenise(text: &str) -> Vec<Token> {
    // Control characters, zero-width marks and exotic spaces come out of
    // recognisers and subtitle tools alike.
    let chars: Vec<char> = text
        .chars()
        .filter_map(|ch| match ch {
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => None,
            ch if ch.is_whitespace() => Some(' '),
            ch if ch.is_control() => None,
            ch => Some(ch),
        })
        .collect();
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_gap = false;
    for (index, &ch) in chars.iter().enumerate() {
        let before = index.checked_sub(1).and_then(|at| chars.get(at)).copied();
        let after = chars.get(index + 1).copied();
        let is_gap = ch == ' ' || is_pause_punctuation(ch) || is_ascii_pause(ch, before, after);
        if is_gap != in_gap && !current.is_empty() {
            let piece = std::mem::take(&mut current);
            tokens.push(if in_gap {
                Token::Gap(piece)
            } else {
                Token::Words(piece)
            });
        }
        in_gap = is_gap;
        current.push(ch);
    }
    if !current.is_empty() {
        tokens.push(if in_gap {
            Token::Gap(current)
        } else {
            Token::Words(current)
        });
    }
    tokens
}

/// Cleans one phrase (text between pauses); `None` when it was all noise.
fn clean_phrase(phrase: &str) -> Option<String> {
    let mut text = remove_repeated_hesitations(phrase);
    loop {
        let stripped = text.trim_start_matches(LEADING_FILLERS);
        if stripped.len() != text.len() {
            text = stripped.to_string();
            continue;
        }
        let hesitation = HESITATION_WORDS.iter().find_map(|word| {
            let rest = text.strip_prefix(word)?;
            let before_noise = match rest.chars().next() {
                None => true,
                Some(next) => PRONOUNS.contains(&next) || LEADING_FILLERS.contains(&next),
            };
            let is_hesitation =
                before_noise || HESITATION_WORDS.iter().any(|other| rest.starts_with(other));
            is_hesitation.then(|| rest.to_string())
        });
        match hesitation {
            Some(rest) => text = rest,
            None => break,
        }
    }
    let text = text.trim_end_matches(TRAILING_FILLERS);
    let mut residue = text.to_string();
    for word in HESITATION_WORDS {
        residue = residue.replace(word, "");
    }
    if residue.chars().all(|ch| FILLER_CHARS.contains(&ch)) {
        return None;
    }
    Some(text.to_string())
}

/// "那个那个", "就是就是就是": a hesitation word said twice or more in a
/// row is never content.
fn remove_repeated_hesitations(phrase: &str) -> String {
    let mut out = String::with_capacity(phrase.len());
    let mut rest = phrase;
    'outer: while !rest.is_empty() {
        for word in HESITATION_WORDS {
            let mut repeats = 0;
            let mut after = rest;
            while let Some(next) = after.strip_prefix(word) {
                repeats += 1;
                after = next;
            }
            if repeats >= 2 {
                rest = after;
                continue 'outer;
            }
        }
        let Some(ch) = rest.chars().next() else {
            break;
        };
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn speakers_and_texts(segments: &[Segment]) -> Vec<(Speaker, &str)> {
        segments
            .iter()
            .map(|segment| (segment.speaker, segment.text.as_str()))
            .collect()
    }

    #[test]
    fn detects_formats_by_extension_and_content() {
        let cases: [(&str, &[u8], Option<TranscriptFormat>); 7] = [
            ("a.json", b"[]", Some(TranscriptFormat::Json)),
            ("a.SRT", b"", Some(TranscriptFormat::Srt)),
            ("a.vtt", b"", Some(TranscriptFormat::WebVtt)),
            (
                "a.txt",
                "\u{FEFF}WEBVTT\n\n00:01.000 --> 00:02.000\n你好".as_bytes(),
                Some(TranscriptFormat::WebVtt),
            ),
            (
                "a",
                b"\r\n1\r\n00:00:01,000 --> 00:00:02,000\r\nhi",
                Some(TranscriptFormat::Srt),
            ),
            ("a", b"{\"segments\": []}", Some(TranscriptFormat::Json)),
            ("a.txt", b"WEBVTTX\n1\n2", None),
        ];
        for (path, bytes, expected) in cases {
            assert_eq!(detect_format(Path::new(path), bytes), expected, "{path}");
        }
    }

    #[test]
    fn parses_srt_with_bom_crlf_labels_and_inheritance() {
        let srt = "\u{FEFF}1\r\n00:00:00,000 --> 00:00:02,500\r\n坐席：您好，请问有什么可以帮您\r\n\r\n\
                   2\r\n00:00:02,500 --> 00:00:06,120 X1:40 X2:600\r\n客户: 嗯 那个 我的快递\r\n一直没到\r\n\r\n\
                   3\r\n00:00:06,120 --> 00:00:08,000\r\n都一个星期了\r\n\r\n\
                   4\r\n00:00:08,000 --> 00:00:09,000\r\n<i>[客服]</i> 我帮您查一下\r\n";
        let segments = parse_transcript(srt.as_bytes(), TranscriptFormat::Srt).expect("srt");
        assert_eq!(
            speakers_and_texts(&segments),
            vec![
                (Speaker::Agent, "您好，请问有什么可以帮您"),
                (Speaker::Customer, "嗯 那个 我的快递 一直没到"),
                (Speaker::Customer, "都一个星期了"),
                (Speaker::Agent, "我帮您查一下"),
            ]
        );
        assert_eq!(
            segments
                .iter()
                .map(|segment| (segment.start_ms, segment.end_ms))
                .collect::<Vec<_>>(),
            vec![
                (Some(0), Some(2500)),
                (Some(2500), Some(6120)),
                (Some(6120), Some(8000)),
                (Some(8000), Some(9000)),
            ]
        );
    }

    #[test]
    fn parses_webvtt_with_notes_styles_ids_settings_and_voices() {
        let vtt = "WEBVTT - 来电录音\nKind: captions\n\n\
                   NOTE 由语音识别生成\n未经人工校对\n\n\
                   STYLE\n::cue { color: white }\n\n\
                   intro\n00:00.000 --> 00:03.000 align:start position:10%\n您的通话将被录音\n\n\
                   00:03.000 --> 00:05.500\n<v 客服小王>您好</v>\n\n\
                   c3\n00:00:05.500 --> 00:00:09.000 line:0\n<v.loud 客户>衣服 &amp; 裤子<00:00:07.000>都发错了</v>\n\n\
                   00:09.000 --> 00:10.000\n<c.yellow>还要等多久</c>\n";
        let segments = parse_transcript(vtt.as_bytes(), TranscriptFormat::WebVtt).expect("vtt");
        assert_eq!(
            speakers_and_texts(&segments),
            vec![
                (Speaker::System, "您的通话将被录音"),
                (Speaker::Agent, "您好"),
                (Speaker::Customer, "衣服 & 裤子都发错了"),
                (Speaker::Customer, "还要等多久"),
            ]
        );
        assert_eq!(segments[2].start_ms, Some(5500));
        assert_eq!(segments[2].end_ms, Some(9000));
    }

    #[test]
    fn an_unlabelled_transcript_is_the_customer() {
        let srt = "1\n00:00:01,000 --> 00:00:03,000\n喂 你好 我上周买的冰箱\n\n\
                   2\n00:00:03,000 --> 00:00:05,000\n到现在还没发货\n";
        let segments = parse_transcript(srt.as_bytes(), TranscriptFormat::Srt).expect("srt");
        assert!(segments
            .iter()
            .all(|segment| segment.speaker == Speaker::Customer));
        assert_eq!(segments.len(), 2, "nothing is merged");
        let label_only = "1\n00:00:01,000 --> 00:00:02,000\n客服：\n\n\
                          2\n00:00:02,000 --> 00:00:03,000\n请稍等\n";
        let segments = parse_transcript(label_only.as_bytes(), TranscriptFormat::Srt).expect("srt");
        assert_eq!(
            speakers_and_texts(&segments),
            vec![(Speaker::Agent, "请稍等")]
        );
    }

    #[test]
    fn a_dialogue_cue_splits_by_speaker() {
        let srt = "1\n00:00:01,000 --> 00:00:04,000\n- 客户：快递到哪了\n- 客服：我帮您查一下\n";
        let segments = parse_transcript(srt.as_bytes(), TranscriptFormat::Srt).expect("srt");
        assert_eq!(
            speakers_and_texts(&segments),
            vec![
                (Speaker::Customer, "快递到哪了"),
                (Speaker::Agent, "我帮您查一下")
            ]
        );
        assert!(segments
            .iter()
            .all(|segment| segment.start_ms == Some(1000)));
    }

    #[test]
    fn parses_json_segments_in_every_time_form() {
        let json = r#"{"call_id": "c1", "segments": [
            {"speaker": "客服", "start": 0, "end": 1.5, "text": "您好"},
            {"speaker": "Customer", "start": "00:00:01.500", "end": "00:00:04,250", "text": "我要退货"},
            {"start_ms": 4250, "end_ms": 6000, "text": "agent：好的，请提供订单号"},
            {"role": "用户", "start": "6", "end": 7, "text": "123456"},
            {"speaker": "客户", "text": "  "}
        ]}"#;
        let segments = parse_transcript(json.as_bytes(), TranscriptFormat::Json).expect("json");
        assert_eq!(
            speakers_and_texts(&segments),
            vec![
                (Speaker::Agent, "您好"),
                (Speaker::Customer, "我要退货"),
                (Speaker::Agent, "好的，请提供订单号"),
                (Speaker::Customer, "123456"),
            ]
        );
        assert_eq!(
            segments
                .iter()
                .map(|segment| (segment.start_ms, segment.end_ms))
                .collect::<Vec<_>>(),
            vec![
                (Some(0), Some(1500)),
                (Some(1500), Some(4250)),
                (Some(4250), Some(6000)),
                (Some(6000), Some(7000)),
            ]
        );
        let bare = r#"[{"text": "客户：屏幕有坏点"}, {"text": "想换一台"}]"#;
        let segments = parse_transcript(bare.as_bytes(), TranscriptFormat::Json).expect("bare");
        assert_eq!(
            speakers_and_texts(&segments),
            vec![
                (Speaker::Customer, "屏幕有坏点"),
                (Speaker::Customer, "想换一台")
            ]
        );
    }

    #[test]
    fn errors_name_the_segment_cue_and_line() {
        let parse = |text: &str, format| parse_transcript(text.as_bytes(), format);
        assert_eq!(
            parse(
                r#"[{"text": "a"}, {"speaker": "spk_1", "text": "b"}]"#,
                TranscriptFormat::Json
            ),
            Err(TranscriptError::Segment {
                index: 1,
                message:
                    "unknown speaker `spk_1`; expected 客户/customer, 客服/agent or 系统/system"
                        .into()
            })
        );
        assert!(matches!(
            parse(r#"[{"text": "a", "start": -1}]"#, TranscriptFormat::Json),
            Err(TranscriptError::Segment { index: 0, .. })
        ));
        assert!(matches!(
            parse(r#"{"text": "a"}"#, TranscriptFormat::Json),
            Err(TranscriptError::JsonShape)
        ));
        assert!(matches!(
            parse("[{\n\"text\": }]", TranscriptFormat::Json),
            Err(TranscriptError::Json { line: 2, .. })
        ));
        assert_eq!(
            parse(
                "1\n00:00:01,000 --> 00:00:02,000\n好\n\n2\n00:00:03,000 --> 00:0x:04,000\n坏\n",
                TranscriptFormat::Srt
            ),
            Err(TranscriptError::Cue {
                cue: 2,
                line: 6,
                message: "invalid timing `00:00:03,000 --> 00:0x:04,000`".into()
            })
        );
        assert!(matches!(
            parse(
                "WEBVTT\n\n00:05.000 --> 00:04.000\n倒着\n",
                TranscriptFormat::WebVtt
            ),
            Err(TranscriptError::Cue {
                cue: 1,
                line: 3,
                ..
            })
        ));
        assert!(matches!(
            parse("只是一段话\n", TranscriptFormat::Srt),
            Err(TranscriptError::Cue {
                cue: 1,
                line: 1,
                ..
            })
        ));
        assert_eq!(
            parse("WEBVTT\n\nNOTE 空的\n", TranscriptFormat::WebVtt),
            Err(TranscriptError::Empty)
        );
        assert_eq!(
            parse_transcript(&[b'[', 0xff, b']'], TranscriptFormat::Json),
            Err(TranscriptError::NotUtf8 { offset: 1 })
        );
    }

    #[test]
    fn a_blank_line_inside_an_srt_cue_continues_it() {
        let srt = "1\n00:00:01,000 --> 00:00:02,000\n客户：包装破了\n\n里面的杯子也碎了\n\n\
                   2\n00:00:02,000 --> 00:00:03,000\n客服：非常抱歉\n\n3\n";
        let segments = parse_transcript(srt.as_bytes(), TranscriptFormat::Srt).expect("srt");
        assert_eq!(
            speakers_and_texts(&segments),
            vec![
                (Speaker::Customer, "包装破了 里面的杯子也碎了"),
                (Speaker::Agent, "非常抱歉")
            ]
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("00:00:01,500"), Some(1500));
        assert_eq!(parse_timestamp("01:02.5"), Some(62_500));
        assert_eq!(parse_timestamp("123:00:00.000"), Some(442_800_000));
        assert_eq!(parse_timestamp("7"), Some(7000));
        assert_eq!(parse_timestamp("00:61:00"), None);
        assert_eq!(parse_timestamp("1:2:3:4"), None);
        assert_eq!(parse_timestamp("99999999999999999999"), None);
        assert_eq!(parse_timestamp("1."), None);
    }

    #[test]
    fn speaker_prefixes() {
        let cases = [
            ("客户：快递没到", Some((Speaker::Customer, "快递没到"))),
            ("顾客 : 快递没到", Some((Speaker::Customer, "快递没到"))),
            ("用户:快递没到", Some((Speaker::Customer, "快递没到"))),
            ("买家：好", Some((Speaker::Customer, "好"))),
            ("Customer: it broke", Some((Speaker::Customer, "it broke"))),
            ("坐席1：您好", Some((Speaker::Agent, "您好"))),
            ("人工客服：您好", Some((Speaker::Agent, "您好"))),
            ("商家：已发货", Some((Speaker::Agent, "已发货"))),
            ("AGENT:hi", Some((Speaker::Agent, "hi"))),
            ("[客服] 您好", Some((Speaker::Agent, "您好"))),
            ("【用户】：在吗", Some((Speaker::Customer, "在吗"))),
            ("（系统）请稍候", Some((Speaker::System, "请稍候"))),
            ("用户说快递没到", None),
            ("客户的快递：没到", None),
            ("[图片] 看看", None),
            ("客服", None),
        ];
        for (text, expected) in cases {
            assert_eq!(split_speaker_prefix(text), expected, "{text}");
        }
    }

    #[test]
    fn clean_asr_removes_fillers_and_marks_pauses() {
        let cases = [
            (
                "嗯 那个 我想问一下 我的快递 怎么还没到",
                "我想问一下，我的快递，怎么还没到",
            ),
            ("嗯嗯 好的 好的", "好的，好的"),
            ("啊", ""),
            ("嗯嗯嗯", ""),
            ("那个 那个 就是 嗯", ""),
            ("呃，额，嘛。", ""),
            ("那个快递员态度很差", "那个快递员态度很差"),
            ("那个那个 快递员态度很差", "快递员态度很差"),
            ("就是就是质量不好", "质量不好"),
            ("那个我想问一下 这个价格", "我想问一下，这个价格"),
            ("嗯，好的，谢谢。嗯", "好的，谢谢。"),
            (
                "嗯 那个 快递 一直 没到 都 一个 星期 了",
                "快递一直没到都一个星期了",
            ),
            ("快递 一直 没到  客服 也 不 理", "快递一直没到，客服也不理"),
            ("额外收了 十块钱 运费", "额外收了，十块钱，运费"),
            ("太慢了啊", "太慢了啊"),
            (
                "  我买的 iPhone 15 屏幕\t碎了\n",
                "我买的 iPhone 15 屏幕碎了",
            ),
            ("价格是 3.5 元", "价格是 3.5 元"),
            ("然后我就 一直 等", "我就一直等"),
        ];
        for (raw, expected) in cases {
            assert_eq!(clean_asr(raw), expected, "{raw}");
        }
    }

    #[test]
    fn noise_yields_no_tags_but_a_complaint_still_does() {
        let analyser =
            crate::nlp::Analyser::load(Path::new("lexicons"), &crate::nlp::TaggerChoice::Lexicon)
                .expect("shipped lexicon");
        for noise in [
            "嗯",
            "嗯嗯 啊",
            "呃 那个 那个",
            "就是 然后 嗯",
            "那个那个 就是 就是 嗯 额",
            "哦 哦 嗯嗯",
        ] {
            let cleaned = clean_asr(noise);
            assert!(cleaned.is_empty(), "{noise} -> {cleaned}");
            let analysis = analyser.analyse(&cleaned);
            assert!(analysis.tags.is_empty(), "{noise}: {:?}", analysis.tags);
        }
        // Word-segmented ASR puts every word in a clause of its own, away
        // from its subject: only the cleaned text is tagged.
        for (complaint, tag) in [
            ("嗯 那个 物流 太 慢 了", "logistics.speed"),
            (
                "嗯嗯 那个 快递 都 一个 星期 了 还没 到货",
                "logistics.speed",
            ),
            ("嗯 那个 快递 一直 没到 都 一个 星期 了", "logistics.speed"),
            (
                "嗯 那个 快递 一直 没收到 都 一个 星期 了",
                "logistics.fulfillment",
            ),
        ] {
            let cleaned = clean_asr(complaint);
            let analysis = analyser.analyse(&cleaned);
            assert_eq!(
                analysis.tag_polarities(),
                vec![(tag.to_string(), "neg")],
                "{complaint} -> {cleaned}"
            );
        }
        assert!(analyser.analyse("嗯 那个 物流 太 慢 了").tags.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_transcripts_never_panic(
            text in "(\\PC|[\\x00-\\x1f]|-->|[0-9:,.]{1,12}|WEBVTT|NOTE|<v [^>]{0,6}>|客户：|\\n){0,60}"
        ) {
            for format in [TranscriptFormat::Json, TranscriptFormat::Srt, TranscriptFormat::WebVtt] {
                if let Ok(segments) = parse_transcript(text.as_bytes(), format) {
                    prop_assert!(!segments.is_empty());
                    for segment in &segments {
                        prop_assert!(!segment.text.trim().is_empty());
                    }
                }
            }
            let _ = detect_format(Path::new("x"), text.as_bytes());
            let cleaned = clean_asr(&text);
            prop_assert!(!cleaned.starts_with(' ') && !cleaned.ends_with(' '));
            prop_assert!(!cleaned.contains('\n'));
        }

        #[test]
        fn arbitrary_json_segments_never_panic(
            speaker in "\\PC{0,6}", start in any::<f64>(), end in "[0-9:.,-]{0,12}", text in "\\PC{0,30}"
        ) {
            let json = serde_json::json!([{"speaker": speaker, "start": start, "end": end, "text": text}]);
            let _ = parse_transcript(json.to_string().as_bytes(), TranscriptFormat::Json);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Arbitrary bytes (invalid UTF-8, NULs, a BOM, stray CRs) in every
        /// format: segments with speech, or a clean error.
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            bom in any::<bool>(),
        ) {
            let mut body = if bom { "\u{feff}".as_bytes().to_vec() } else { Vec::new() };
            body.extend_from_slice(&bytes);
            for format in [TranscriptFormat::Json, TranscriptFormat::Srt, TranscriptFormat::WebVtt] {
                match parse_transcript(&body, format) {
                    Ok(segments) => prop_assert!(segments.iter().all(|segment| !segment.text.trim().is_empty())),
                    Err(TranscriptError::NotUtf8 { offset }) => prop_assert!(std::str::from_utf8(&body[..offset]).is_ok()),
                    Err(_) => {}
                }
            }
            let _ = detect_format(Path::new("x"), &body);
        }

        /// Cues with extreme, reversed or malformed times: a file parses
        /// only when every cue's times do and are in order, and then every
        /// segment keeps its cue's times.
        #[test]
        fn cues_with_extreme_times_never_panic(
            cues in proptest::collection::vec((
                "[0-9]{1,12}(:[0-9]{1,3}){0,3}([.,][0-9]{0,12})?",
                "[0-9]{1,12}(:[0-9]{1,3}){0,3}([.,][0-9]{0,12})?",
                "(\\PC|[\\x00-\\x09\\x0b\\x0c\\x0e-\\x1f\\u{200b}\\u{202e}]){0,20}",
            ), 1..6),
            webvtt in any::<bool>(),
        ) {
            let mut text = if webvtt { "WEBVTT\n\n".to_string() } else { String::new() };
            for (number, (start, end, speech)) in cues.iter().enumerate() {
                text.push_str(&format!("{}\n{start} --> {end}\n{speech}\n\n", number + 1));
            }
            let format = if webvtt { TranscriptFormat::WebVtt } else { TranscriptFormat::Srt };
            let times: Vec<Option<(u64, u64)>> = cues
                .iter()
                .map(|(start, end, _)| match (parse_timestamp(start), parse_timestamp(end)) {
                    (Some(start), Some(end)) if start <= end => Some((start, end)),
                    _ => None,
                })
                .collect();
            match parse_transcript(text.as_bytes(), format) {
                Ok(segments) => {
                    prop_assert!(times.iter().all(Option::is_some), "{text:?}");
                    for segment in &segments {
                        let timing = (segment.start_ms.expect("cue start"), segment.end_ms.expect("cue end"));
                        prop_assert!(times.contains(&Some(timing)));
                    }
                }
                Err(TranscriptError::Cue { .. } | TranscriptError::Empty) => {}
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }
    }
}
