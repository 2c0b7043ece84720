//! Clause-level tagging into the tag libraries, with polarity, score and
//! evidence, plus the item's overall sentiment.
//!
//! [`Tagger`] is the seam where learned models slot in: the pipeline hands a
//! batch of prepared texts (normalised, lexicon hits, clauses) and gets tags
//! and sentiment back. [`LexiconTagger`] is the rule-based implementation:
//!
//! - a tag *phrase* ("起球", "偏小") fires alone with its own polarity;
//! - a tag *aspect* ("物流", "面料") fires with the opinion word nearest to it in
//!   the same clause: this tag's own opinion words ("快" for delivery) or a
//!   general one ("好", "差"), searched first between this aspect and the next,
//!   then between the previous aspect and this one;
//! - an aspect standing alone in a very short clause ("价格，质量都很好")
//!   borrows the first opinion of the next clause;
//! - a negation word right before an opinion or phrase (degree words may sit
//!   between: "不太好") flips it;
//! - one tag per item: the last mention is the customer's final verdict.

use super::clauses::Clause;
use super::lexicon::{Lexicon, LexiconMatch, Role};
use crate::feedback::{library_of, Evidence, Polarity, TagMention};

/// Text after the cheap, deterministic stages, shared by every tagger.
#[derive(Debug, Clone)]
pub struct PreparedText {
    pub text: String,
    pub chars: Vec<char>,
    pub matches: Vec<LexiconMatch>,
    pub clauses: Vec<Clause>,
    /// Per clause (same order as `clauses`): its text and jieba words.
    pub clause_texts: Vec<ClauseText>,
}

/// A clause's text and its jieba words (precise mode, HMM), cut once per
/// item: the models read the words and keywords are counted from them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClauseText {
    pub text: String,
    /// Byte ranges of the words in `text`, in order (not copied: an item
    /// has dozens of words and every copy is an allocation).
    word_spans: Vec<std::ops::Range<usize>>,
}

impl ClauseText {
    pub fn cut(segmenter: &super::segment::Segmenter, text: String) -> ClauseText {
        let base = text.as_ptr() as usize;
        let word_spans = segmenter
            .words(&text)
            .into_iter()
            .filter_map(|token| {
                // jieba hands out subslices of `text`; checked rather than
                // trusted, since a bad range would panic on slicing later.
                let start = (token.word.as_ptr() as usize).checked_sub(base)?;
                let span = start..start + token.word.len();
                (text.get(span.clone()) == Some(token.word)).then_some(span)
            })
            .collect();
        ClauseText { text, word_spans }
    }

    /// A clause already cut into `words` (tests).
    #[cfg(test)]
    pub(crate) fn from_words(words: &[&str]) -> ClauseText {
        let mut word_spans = Vec::with_capacity(words.len());
        let mut end = 0;
        for word in words {
            word_spans.push(end..end + word.len());
            end += word.len();
        }
        ClauseText {
            text: words.concat(),
            word_spans,
        }
    }

    pub fn words(&self) -> impl Iterator<Item = &str> + '_ {
        self.word_spans.iter().map(|span| &self.text[span.clone()])
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaggerOutput {
    pub tags: Vec<TagMention>,
    pub sentiment: Polarity,
    pub sentiment_score: f32,
    /// Set when a tagger could not do its own work and the rules tagged the
    /// item instead: the version the item records, so reanalysis finds it.
    pub tagged_by: Option<String>,
}

pub trait Tagger: Send + Sync {
    /// Recorded on every analysed item, e.g. `lexicon:lex-2026.11.0+1a2b3c4d`.
    fn version(&self) -> &str;

    /// Batched so that model-backed taggers can run clauses of many items in
    /// one inference call.
    fn tag_batch(&self, texts: &[PreparedText]) -> Vec<TaggerOutput>;
}

pub struct LexiconTagger {
    lexicon: std::sync::Arc<Lexicon>,
    version: String,
}

/// Scores by how the tag was found: a dedicated phrase is the surest sign,
/// an aspect with its own opinion word next, a general opinion after that.
const SCORE_PHRASE: f32 = 0.9;
const SCORE_ASPECT_OWN_OPINION: f32 = 0.85;
const SCORE_ASPECT_GENERAL_OPINION: f32 = 0.75;
const SCORE_BORROWED_OPINION: f32 = 0.6;
/// A clause this short that holds an aspect and nothing else is an item of a
/// list whose verdict comes next ("价格，质量都不错").
const LIST_ITEM_MAX_CHARS: usize = 4;
/// Clauses after a contrast word carry the customer's real verdict.
const CONTRAST_WEIGHT: f32 = 1.6;

#[derive(Debug, Clone, Copy)]
struct Opinion {
    polarity: Polarity,
    strength: f32,
    start: usize,
    end: usize,
    /// `Some(tag)` for a tag's own opinion word, which only counts next to that tag's aspects.
    own_tag: Option<usize>,
}

/// One tag found by the rules in one clause, before the final verdict per
/// tag is taken. Learned taggers read these as features and as evidence.
#[derive(Debug, Clone)]
pub struct ClauseHit {
    /// Index into [`Lexicon::tags`].
    pub tag: usize,
    pub polarity: Polarity,
    pub score: f32,
    pub span: [usize; 2],
    pub clause: usize,
}

/// Everything the rules found in one text.
#[derive(Debug, Clone)]
pub struct RuleFindings {
    pub hits: Vec<ClauseHit>,
    pub sentiment_score: f32,
}

impl LexiconTagger {
    pub fn new(lexicon: std::sync::Arc<Lexicon>) -> Self {
        let version = format!("lexicon:{}", lexicon.version);
        LexiconTagger { lexicon, version }
    }

    pub fn tag_one(&self, prepared: &PreparedText) -> TaggerOutput {
        let findings = self.find(prepared);
        let sentiment_score = findings.sentiment_score;
        let sentiment = if sentiment_score > 0.25 {
            Polarity::Pos
        } else if sentiment_score < -0.25 {
            Polarity::Neg
        } else {
            Polarity::Neu
        };
        TaggerOutput {
            tags: self.final_verdicts(findings.hits, prepared),
            sentiment,
            sentiment_score,
            tagged_by: None,
        }
    }

    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    /// Every clause-level hit of the rules, in clause order, and the rules'
    /// sentiment score (positive = praise).
    pub fn find(&self, prepared: &PreparedText) -> RuleFindings {
        let mut candidates: Vec<ClauseHit> = Vec::new();
        let mut sentiment_score = 0.0f32;
        let mut pending_list_aspects: Vec<(usize, [usize; 2])> = Vec::new();

        for (clause_index, clause) in prepared.clauses.iter().enumerate() {
            // Matches are sorted and never span a clause boundary: slice, don't scan.
            let first = prepared
                .matches
                .partition_point(|hit| hit.start < clause.start);
            let last = prepared
                .matches
                .partition_point(|hit| hit.start < clause.end);
            let hits: Vec<&LexiconMatch> = prepared.matches[first..last]
                .iter()
                .filter(|hit| hit.end <= clause.end)
                .collect();
            let opinions = self.opinions(&hits, prepared);
            let excluded: Vec<usize> = hits
                .iter()
                .flat_map(|hit| self.lexicon.roles(hit.entry))
                .filter_map(|role| {
                    if let Role::Exclude(tag) = role {
                        Some(*tag)
                    } else {
                        None
                    }
                })
                .collect();

            // A list item from the previous clause takes this clause's first general verdict.
            if let Some(first_general) = opinions.iter().find(|opinion| opinion.own_tag.is_none()) {
                for (tag, span) in pending_list_aspects.drain(..) {
                    if !excluded.contains(&tag) {
                        candidates.push(ClauseHit {
                            tag,
                            polarity: first_general.polarity,
                            score: SCORE_BORROWED_OPINION,
                            span,
                            clause: clause_index,
                        });
                    }
                }
            }
            pending_list_aspects.clear();

            let mut clause_candidates = Vec::new();
            let aspects: Vec<(usize, usize, usize)> = hits
                .iter()
                .flat_map(|hit| {
                    self.lexicon
                        .roles(hit.entry)
                        .iter()
                        .filter_map(move |role| match role {
                            Role::Aspect(tag) => Some((*tag, hit.start, hit.end)),
                            _ => None,
                        })
                })
                .collect();
            for (position, &(tag, start, end)) in aspects.iter().enumerate() {
                let next_aspect_start = aspects[position + 1..]
                    .iter()
                    .find(|other| other.1 >= end && other.0 != tag)
                    .map_or(clause.end, |other| other.1);
                let previous_aspect_end = aspects[..position]
                    .iter()
                    .rev()
                    .find(|other| other.0 != tag)
                    .map_or(clause.start, |other| other.2);
                let eligible = |opinion: &&Opinion| opinion.own_tag.is_none_or(|own| own == tag);
                let chosen = opinions
                    .iter()
                    .filter(eligible)
                    .find(|opinion| opinion.start >= end && opinion.end <= next_aspect_start)
                    .or_else(|| {
                        opinions.iter().filter(eligible).rev().find(|opinion| {
                            opinion.end <= start && opinion.start >= previous_aspect_end
                        })
                    })
                    .or_else(|| {
                        opinions
                            .iter()
                            .filter(eligible)
                            .find(|opinion| opinion.start >= end)
                    });
                match chosen {
                    Some(opinion) => clause_candidates.push(ClauseHit {
                        tag,
                        polarity: opinion.polarity,
                        score: if opinion.own_tag.is_some() {
                            SCORE_ASPECT_OWN_OPINION
                        } else {
                            SCORE_ASPECT_GENERAL_OPINION
                        },
                        span: [start.min(opinion.start), end.max(opinion.end)],
                        clause: clause_index,
                    }),
                    None => {
                        let clause_is_list_item = clause.end - clause.start <= LIST_ITEM_MAX_CHARS
                            && hits.iter().all(|hit| {
                                self.lexicon
                                    .roles(hit.entry)
                                    .iter()
                                    .all(|role| matches!(role, Role::Aspect(_)))
                            });
                        if clause_is_list_item {
                            pending_list_aspects.push((tag, [start, end]));
                        }
                    }
                }
            }
            for hit in &hits {
                for role in self.lexicon.roles(hit.entry) {
                    if let Role::Phrase(tag, polarity) = *role {
                        let negated = self.is_negated(&hits, hit, prepared);
                        clause_candidates.push(ClauseHit {
                            tag,
                            polarity: if negated {
                                polarity.flipped()
                            } else {
                                polarity
                            },
                            score: SCORE_PHRASE,
                            span: [hit.start, hit.end],
                            clause: clause_index,
                        });
                    }
                }
            }
            clause_candidates.retain(|candidate| !excluded.contains(&candidate.tag));

            // Clause contribution to the overall sentiment: tag verdicts, and
            // general opinions when the clause has no tag.
            let weight = if clause.after_contrast {
                CONTRAST_WEIGHT
            } else {
                1.0
            };
            let mut clause_score = 0.0;
            if clause_candidates.is_empty() {
                for opinion in opinions.iter().filter(|opinion| opinion.own_tag.is_none()) {
                    clause_score += opinion.polarity.sign() * opinion.strength;
                }
            } else {
                for candidate in &clause_candidates {
                    clause_score += candidate.polarity.sign();
                }
            }
            sentiment_score += weight * clause_score;
            candidates.extend(clause_candidates);
        }
        RuleFindings {
            hits: candidates,
            sentiment_score,
        }
    }

    fn opinions(&self, hits: &[&LexiconMatch], prepared: &PreparedText) -> Vec<Opinion> {
        let mut opinions = Vec::new();
        for (position, hit) in hits.iter().enumerate() {
            for role in self.lexicon.roles(hit.entry) {
                let (polarity, own_tag) = match *role {
                    Role::Opinion(polarity) => (polarity, None),
                    Role::AspectOpinion(tag, polarity) => (polarity, Some(tag)),
                    _ => continue,
                };
                let negated = self.is_negated(hits, hit, prepared);
                let strength = self.degree_before(&hits[..position], hit.start);
                opinions.push(Opinion {
                    polarity: if negated {
                        polarity.flipped()
                    } else {
                        polarity
                    },
                    strength,
                    start: hit.start,
                    end: hit.end,
                    own_tag,
                });
            }
        }
        opinions
    }

    /// A negation word ends right before `hit`, possibly with degree words or
    /// one filler character between ("不太好", "没有很快", "不是很好").
    fn is_negated(
        &self,
        hits: &[&LexiconMatch],
        hit: &LexiconMatch,
        prepared: &PreparedText,
    ) -> bool {
        let mut cursor = hit.start;
        let mut negations = 0;
        for earlier in hits.iter().rev().filter(|earlier| earlier.end <= hit.start) {
            let gap = cursor - earlier.end;
            if gap > 1 {
                break;
            }
            if gap == 1 && !is_negation_filler(prepared.chars.get(earlier.end).copied()) {
                break;
            }
            let roles = self.lexicon.roles(earlier.entry);
            if roles.contains(&Role::Negation) {
                negations += 1;
            } else if !roles.iter().any(|role| matches!(role, Role::Degree(_))) {
                break;
            }
            cursor = earlier.start;
        }
        negations % 2 == 1
    }

    fn degree_before(&self, earlier_hits: &[&LexiconMatch], start: usize) -> f32 {
        earlier_hits
            .iter()
            .rev()
            .take_while(|earlier| start - earlier.end <= 1)
            .flat_map(|earlier| self.lexicon.roles(earlier.entry))
            .find_map(|role| {
                if let Role::Degree(multiplier) = role {
                    Some(*multiplier)
                } else {
                    None
                }
            })
            .unwrap_or(1.0)
    }

    pub fn final_verdicts(
        &self,
        candidates: Vec<ClauseHit>,
        prepared: &PreparedText,
    ) -> Vec<TagMention> {
        let mut decisive: Vec<ClauseHit> = Vec::new();
        for candidate in candidates {
            match decisive
                .iter_mut()
                .find(|existing| existing.tag == candidate.tag)
            {
                // Later mentions are the final verdict; within one clause a
                // phrase beats an aspect with a general opinion.
                Some(existing) => {
                    let later_clause = candidate.clause > existing.clause;
                    let same_clause_stronger =
                        candidate.clause == existing.clause && candidate.score > existing.score;
                    if later_clause || same_clause_stronger {
                        *existing = candidate;
                    }
                }
                None => decisive.push(candidate),
            }
        }
        decisive
            .into_iter()
            .map(|candidate| {
                let clause = &prepared.clauses[candidate.clause];
                let id = self.lexicon.tags[candidate.tag].id.clone();
                TagMention {
                    library: library_of(&id).to_string(),
                    tag: id,
                    polarity: candidate.polarity,
                    score: candidate.score,
                    evidence: Evidence {
                        clause: prepared.chars[clause.start..clause.end].iter().collect(),
                        clause_span: [clause.start, clause.end],
                        span: candidate.span,
                        text: prepared.chars[candidate.span[0]..candidate.span[1]]
                            .iter()
                            .collect(),
                        segment: None,
                        start_ms: None,
                        field: None,
                    },
                }
            })
            .collect()
    }
}

fn is_negation_filler(ch: Option<char>) -> bool {
    matches!(
        ch,
        Some('是' | '太' | '够' | '算' | '怎' | '会' | '很' | '大' | '那' | '再')
    )
}

impl Tagger for LexiconTagger {
    fn version(&self) -> &str {
        &self.version
    }

    fn tag_batch(&self, texts: &[PreparedText]) -> Vec<TaggerOutput> {
        texts
            .iter()
            .map(|prepared| self.tag_one(prepared))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlp::segment::Segmenter;

    #[test]
    fn a_cut_clause_reads_back_its_words_in_order() {
        let lexicon =
            Lexicon::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons"))
                .expect("shipped lexicon");
        let segmenter = Segmenter::new(&lexicon);
        let text = "XL码面料起球 尺码偏小";
        let clause = ClauseText::cut(&segmenter, text.to_string());
        let words: Vec<&str> = clause.words().collect();
        assert_eq!(words.concat(), text, "{words:?}");
        assert!(words.contains(&"起球"), "{words:?}");
    }
}
