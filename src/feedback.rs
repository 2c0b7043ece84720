//! Domain types shared by every stage: a feedback item as it arrives, and
//! the analysis the NLP pipeline attaches to it.
//!
//! Offsets in [`Evidence`] are Unicode scalar (char) offsets into the
//! *normalised* text, which is what the index stores and the UI highlights.

use serde::{Deserialize, Serialize};

/// Where a piece of feedback came from. Closed set: boards and filters
/// depend on it, so an unknown source is refused at ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Review,
    Refund,
    Chat,
    Call,
    Survey,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Review,
        Source::Refund,
        Source::Chat,
        Source::Call,
        Source::Survey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Review => "review",
            Source::Refund => "refund",
            Source::Chat => "chat",
            Source::Call => "call",
            Source::Survey => "survey",
        }
    }

    pub fn parse(value: &str) -> Option<Source> {
        Source::ALL
            .into_iter()
            .find(|source| source.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    Pos,
    Neg,
    Neu,
}

impl Polarity {
    pub const ALL: [Polarity; 3] = [Polarity::Pos, Polarity::Neg, Polarity::Neu];

    pub fn as_str(self) -> &'static str {
        match self {
            Polarity::Pos => "pos",
            Polarity::Neg => "neg",
            Polarity::Neu => "neu",
        }
    }

    pub fn parse(value: &str) -> Option<Polarity> {
        Polarity::ALL
            .into_iter()
            .find(|polarity| polarity.as_str() == value)
    }

    pub fn flipped(self) -> Polarity {
        match self {
            Polarity::Pos => Polarity::Neg,
            Polarity::Neg => Polarity::Pos,
            Polarity::Neu => Polarity::Neu,
        }
    }

    pub fn sign(self) -> f32 {
        match self {
            Polarity::Pos => 1.0,
            Polarity::Neg => -1.0,
            Polarity::Neu => 0.0,
        }
    }
}

/// A validated item ready to be stored. Produced by `ingest::validate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewFeedback {
    pub external_id: String,
    pub source: Source,
    pub channel: String,
    pub text: String,
    pub rating: Option<u8>,
    pub order_id: Option<String>,
    pub sku: Option<String>,
    pub product_name: Option<String>,
    pub category: Option<String>,
    pub consumer_id: Option<String>,
    pub store: Option<String>,
    /// Unix seconds, UTC.
    pub created_at: i64,
    pub meta: Option<serde_json::Value>,
    /// Chat turns, call segments, or a review and its 追评. When present,
    /// `text` is derived from them: the customer's speech, one segment per
    /// line (see [`NewFeedback::analysed_segments`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// A refund's reason as chosen from the platform's menu (尺码不合适, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
}

impl NewFeedback {
    /// The text the analyser reads for one segment: call transcripts lose
    /// their ASR fillers; line breaks inside a segment become spaces, because
    /// line *k* of the analysed text must be analysed segment *k*.
    pub fn segment_text(&self, segment: &Segment) -> String {
        let text = if self.source == Source::Call {
            crate::ingest::transcript::clean_asr(&segment.text)
        } else {
            segment.text.clone()
        };
        text.replace(['\r', '\n'], " ")
    }

    /// Indices (into `segments`) of the segments that make up `text`, in
    /// order: customer speech that still has words after normalisation.
    pub fn analysed_segments(&self) -> Vec<usize> {
        self.segments
            .iter()
            .enumerate()
            .filter(|(_, segment)| segment.speaker == Speaker::Customer)
            .filter(|(_, segment)| {
                !crate::nlp::normalise::normalise(&self.segment_text(segment))
                    .trim()
                    .is_empty()
            })
            .map(|(index, _)| index)
            .collect()
    }

    /// Derives `text` from the segments (no-op for single-text items).
    /// Returns false when no segment carries customer speech.
    pub fn compose_text(&mut self) -> bool {
        if self.segments.is_empty() {
            return !self.text.trim().is_empty();
        }
        let lines: Vec<String> = self
            .analysed_segments()
            .into_iter()
            .map(|index| self.segment_text(&self.segments[index]))
            .collect();
        self.text = lines.join("\n");
        !lines.is_empty()
    }

    /// The stored item with the segments `incoming` adds (a 追评 that was
    /// empty in an earlier export, more turns of a transcript), or None when
    /// it adds nothing: the same item arriving again is not new feedback.
    pub fn merged_with(&self, incoming: &NewFeedback) -> Option<NewFeedback> {
        if incoming.segments.is_empty() {
            return None;
        }
        let mut merged = self.clone();
        if merged.segments.is_empty() {
            merged.segments.push(Segment {
                speaker: Speaker::Customer,
                text: self.text.clone(),
                start_ms: None,
                end_ms: None,
                at: Some(self.created_at),
                message_id: None,
                kind: None,
            });
        }
        let before = merged.segments.len();
        for segment in &incoming.segments {
            if !merged.segments.iter().any(|known| known.same_as(segment)) {
                merged.segments.push(segment.clone());
            }
        }
        if merged.segments.len() == before {
            return None;
        }
        merged.compose_text();
        Some(merged)
    }

    /// What agents and the system said: searchable, never tagged.
    pub fn context_text(&self) -> String {
        let lines: Vec<&str> = self
            .segments
            .iter()
            .filter(|segment| segment.speaker != Speaker::Customer)
            .map(|segment| segment.text.as_str())
            .collect();
        lines.join("\n")
    }
}

/// Where in the normalised text a tag came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The clause that produced the tag.
    pub clause: String,
    /// `[start, end)` char offsets of the clause in the normalised text.
    pub clause_span: [usize; 2],
    /// `[start, end)` char offsets of the words that decided the tag.
    pub span: [usize; 2],
    /// The text of `span`.
    pub text: String,
    /// For multi-part items: the index in `segments` of the segment that
    /// holds the clause, and that segment's start in the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
    /// Set when the evidence is not in the text but in another field
    /// (`reason_code` for a refund's reason prior); spans then index that field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagMention {
    pub tag: String,
    pub library: String,
    pub polarity: Polarity,
    /// Confidence in [0, 1].
    pub score: f32,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub normalised_text: String,
    /// ISO 639-3 code from whatlang, or "und" when undetectable.
    pub language: String,
    pub tags: Vec<TagMention>,
    pub sentiment: Polarity,
    /// Signed strength of the overall sentiment; negative means complaint.
    pub sentiment_score: f32,
    pub keywords: Vec<String>,
    /// Which lexicon/model produced this analysis, e.g. `lexicon:lex-2026.11.0+1a2b3c4d`.
    pub analyser_version: String,
}

impl Analysis {
    /// Points each tag's evidence at the segment (chat turn, call segment,
    /// 追评) its clause came from: line *k* of the analysed text is the
    /// *k*-th of [`NewFeedback::analysed_segments`].
    pub fn locate_segments(&mut self, item: &NewFeedback) {
        if item.segments.is_empty() {
            return;
        }
        let analysed = item.analysed_segments();
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(
                self.normalised_text
                    .chars()
                    .enumerate()
                    .filter(|(_, ch)| *ch == '\n')
                    .map(|(offset, _)| offset + 1),
            )
            .collect();
        for tag in &mut self.tags {
            if tag.evidence.field.is_some() {
                continue;
            }
            let line = line_starts
                .partition_point(|start| *start <= tag.evidence.clause_span[0])
                .saturating_sub(1);
            if let Some(&segment) = analysed.get(line) {
                tag.evidence.segment = Some(segment);
                tag.evidence.start_ms = item.segments[segment].start_ms;
            }
        }
    }

    /// `(tag, polarity)` of every tag, sorted: the shape the eval scorer and
    /// the tests compare.
    pub fn tag_polarities(&self) -> Vec<(String, &'static str)> {
        let mut pairs: Vec<_> = self
            .tags
            .iter()
            .map(|tag| (tag.tag.clone(), tag.polarity.as_str()))
            .collect();
        pairs.sort();
        pairs
    }
}

/// The library ("product", "logistics", "service", or a deployment's own)
/// is the part of a tag id before the first dot.
pub fn library_of(tag_id: &str) -> &str {
    tag_id.split('.').next().unwrap_or(tag_id)
}

/// Who spoke a [`Segment`]. Only customer speech is tagged; agent and system
/// speech is kept for context and search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Customer,
    Agent,
    System,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Customer => "customer",
            Speaker::Agent => "agent",
            Speaker::System => "system",
        }
    }

    pub fn parse(value: &str) -> Option<Speaker> {
        [Speaker::Customer, Speaker::Agent, Speaker::System]
            .into_iter()
            .find(|speaker| speaker.as_str() == value)
    }
}

/// One part of a multi-part item: a chat turn, a call-transcript segment, or
/// a review's follow-up (追评).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub speaker: Speaker,
    pub text: String,
    /// Offset from the start of a call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<u64>,
    /// When the segment was written or sent, Unix seconds (chat turns, 追评).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    /// The platform's message id, so a redelivered message is not appended twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// `followup` for a 追评; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl Segment {
    /// The same message delivered twice: by platform id when both have one,
    /// else by who said what, when.
    pub fn same_as(&self, other: &Segment) -> bool {
        match (&self.message_id, &other.message_id) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => {
                self.speaker == other.speaker
                    && self.text == other.text
                    && self.start_ms == other.start_ms
                    && self.kind == other.kind
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(speaker: Speaker, text: &str) -> Segment {
        Segment {
            speaker,
            text: text.to_string(),
            start_ms: None,
            end_ms: None,
            at: None,
            message_id: None,
            kind: None,
        }
    }

    fn review(text: &str) -> NewFeedback {
        NewFeedback {
            external_id: "r-1".into(),
            source: Source::Review,
            channel: "jd".into(),
            text: text.into(),
            rating: None,
            order_id: None,
            sku: None,
            product_name: None,
            category: None,
            consumer_id: None,
            store: None,
            created_at: 1_700_000_000,
            meta: None,
            segments: Vec::new(),
            reason_code: None,
        }
    }

    #[test]
    fn text_is_the_customer_segments_one_per_line() {
        let mut item = review("");
        item.source = Source::Call;
        item.segments = vec![
            segment(Speaker::Agent, "您好，请问有什么可以帮您"),
            segment(Speaker::Customer, "嗯 啊"),
            segment(Speaker::Customer, "水壶\n用了十天就坏了"),
        ];
        assert!(item.compose_text());
        assert_eq!(
            item.analysed_segments(),
            vec![2],
            "filler-only speech is dropped"
        );
        // The line break inside a segment reads as an ASR pause: a clause break.
        assert_eq!(item.text, "水壶，用了十天就坏了");
        assert_eq!(item.context_text(), "您好，请问有什么可以帮您");
    }

    #[test]
    fn a_followup_merges_once_into_a_plain_review() {
        let stored = review("颜色很正");
        let mut incoming = review("颜色很正");
        let mut followup = segment(Speaker::Customer, "洗了一次就起球");
        followup.kind = Some("followup".into());
        incoming.segments = vec![
            Segment {
                at: Some(1_700_000_000),
                ..segment(Speaker::Customer, "颜色很正")
            },
            followup,
        ];
        let merged = stored.merged_with(&incoming).expect("the 追评 is new");
        assert_eq!(merged.segments.len(), 2);
        assert_eq!(merged.text, "颜色很正\n洗了一次就起球");
        assert!(
            merged.merged_with(&incoming).is_none(),
            "nothing new the second time"
        );
    }

    #[test]
    fn evidence_is_located_by_line() {
        let mut item = review("");
        item.segments = vec![
            segment(Speaker::Customer, "物流很快"),
            segment(Speaker::Agent, "感谢支持"),
            Segment {
                start_ms: Some(9_000),
                ..segment(Speaker::Customer, "衣服起球")
            },
        ];
        item.compose_text();
        let evidence = |start: usize, end: usize| Evidence {
            clause: String::new(),
            clause_span: [start, end],
            span: [start, end],
            text: String::new(),
            segment: None,
            start_ms: None,
            field: None,
        };
        let mention = |tag: &str, start, end| TagMention {
            tag: tag.into(),
            library: library_of(tag).into(),
            polarity: Polarity::Neg,
            score: 1.0,
            evidence: evidence(start, end),
        };
        let mut analysis = Analysis {
            normalised_text: item.text.clone(),
            language: "cmn".into(),
            tags: vec![
                mention("logistics.speed", 0, 4),
                mention("product.material", 5, 9),
            ],
            sentiment: Polarity::Neg,
            sentiment_score: -1.0,
            keywords: Vec::new(),
            analyser_version: String::new(),
        };
        analysis.locate_segments(&item);
        assert_eq!(analysis.tags[0].evidence.segment, Some(0));
        assert_eq!(analysis.tags[1].evidence.segment, Some(2));
        assert_eq!(analysis.tags[1].evidence.start_ms, Some(9_000));
    }
}
