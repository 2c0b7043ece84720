//! The analysis pipeline, as small stages in order:
//! normalise → detect language → lexicon scan → clauses → tag (+ sentiment)
//! → keywords. Offsets (char offsets into the normalised text) survive every
//! stage, so each tag's evidence points at the words that produced it.
//!
//! [`Analyser`] is built once at start (jieba's dictionary and the lexicon
//! automaton are the expensive parts) and shared by the ingest workers, the
//! `classify` command and the index tokenizer.

pub mod clauses;
pub mod features;
pub mod keywords;
pub mod language;
pub mod lexicon;
pub mod model;
pub mod ngrams;
pub mod normalise;
pub mod pii;
pub mod refund_reasons;
pub mod segment;
pub mod tagger;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::feedback::{Analysis, Polarity};
use keywords::{KeywordError, KeywordExtractor};
use lexicon::{Lexicon, LexiconError};
use model::{ModelError, ModelTagger};
use segment::Segmenter;
use tagger::{ClauseText, LexiconTagger, PreparedText, Tagger};

pub struct Analyser {
    lexicon: Arc<Lexicon>,
    segmenter: Segmenter,
    keywords: KeywordExtractor,
    rules: LexiconTagger,
    tagger: Box<dyn Tagger>,
}

/// What the pipeline needs besides the text: a star rating breaks the tie
/// when the text alone carries no verdict ("收到了").
#[derive(Debug, Clone, Copy)]
pub struct AnalysisInput<'a> {
    pub text: &'a str,
    pub rating: Option<u8>,
    /// A refund's menu reason: a prior on its tags (see [`refund_reasons`]).
    pub reason_code: Option<&'a str>,
}

/// Which tagger tags: the learned models (default) or the rules alone.
#[derive(Debug, Clone)]
pub enum TaggerChoice {
    Lexicon,
    Model {
        model_dir: PathBuf,
        onnxruntime_library: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyserError {
    #[error(transparent)]
    Lexicon(#[from] LexiconError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Keywords(#[from] KeywordError),
}

impl Analyser {
    pub fn load(lexicon_dir: &Path, choice: &TaggerChoice) -> Result<Analyser, AnalyserError> {
        let lexicon = Arc::new(Lexicon::load(lexicon_dir)?);
        // Start-up is two dictionaries to parse and the models to load,
        // independent of each other: side by side on the rayon pool.
        let load_tagger = || -> Result<Box<dyn Tagger>, AnalyserError> {
            Ok(match choice {
                TaggerChoice::Lexicon => Box::new(LexiconTagger::new(lexicon.clone())),
                TaggerChoice::Model {
                    model_dir,
                    onnxruntime_library,
                } => Box::new(ModelTagger::load(
                    model_dir,
                    onnxruntime_library,
                    lexicon.clone(),
                )?),
            })
        };
        let ((segmenter, keywords), tagger) = rayon::join(
            || {
                rayon::join(
                    || Segmenter::new(&lexicon),
                    || KeywordExtractor::load(lexicon_dir),
                )
            },
            load_tagger,
        );
        let (keywords, tagger) = (keywords?, tagger?);
        Ok(Analyser {
            rules: LexiconTagger::new(lexicon.clone()),
            lexicon,
            segmenter,
            keywords,
            tagger,
        })
    }

    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    pub fn segmenter(&self) -> &Segmenter {
        &self.segmenter
    }

    pub fn version(&self) -> &str {
        self.tagger.version()
    }

    pub fn prepare(&self, raw: &str) -> PreparedText {
        let text = normalise::normalise(raw);
        let matches = self.lexicon.find(&text);
        let clauses = clauses::split(&text, &matches, &self.lexicon);
        let chars: Vec<char> = text.chars().collect();
        let clause_texts = clauses
            .iter()
            .map(|clause| {
                ClauseText::cut(
                    &self.segmenter,
                    chars[clause.start..clause.end].iter().collect(),
                )
            })
            .collect();
        PreparedText {
            text,
            chars,
            matches,
            clauses,
            clause_texts,
        }
    }

    /// The model features of one text (see [`features`]) and the rules'
    /// sentiment score: what `xinsheng features` writes for training.
    pub fn features(&self, raw: &str) -> (Vec<features::ClauseFeatures>, f32) {
        let prepared = self.prepare(raw);
        let findings = self.rules.find(&prepared);
        let clauses = features::item_features(&self.lexicon, &prepared, &findings);
        (clauses, findings.sentiment_score)
    }

    /// Analyses a batch in parallel on the rayon pool; order is preserved.
    pub fn analyse_batch(&self, inputs: &[AnalysisInput<'_>]) -> Vec<Analysis> {
        let prepared: Vec<PreparedText> = inputs
            .par_iter()
            .map(|input| self.prepare(input.text))
            .collect();
        // Model runs are cheaper per row in big batches of similar-length
        // rows; four chunks per thread keep the threads evenly busy.
        let chunk = inputs
            .len()
            .div_ceil(4 * rayon::current_num_threads().max(1))
            .max(64);
        let outputs: Vec<_> = prepared
            .par_chunks(chunk)
            .flat_map_iter(|chunk| self.tagger.tag_batch(chunk))
            .collect();
        prepared
            .into_par_iter()
            .zip(outputs)
            .zip(inputs.par_iter())
            .map(|((prepared, output), input)| {
                let sentiment = match (output.sentiment, input.rating) {
                    (Polarity::Neu, Some(rating)) if rating <= 2 => Polarity::Neg,
                    (Polarity::Neu, Some(rating)) if rating >= 4 => Polarity::Pos,
                    (sentiment, _) => sentiment,
                };
                let keywords = self.keywords.extract(&prepared.clause_texts);
                let mut tags = output.tags;
                if let Some(reason_code) = input.reason_code {
                    self.lexicon.refund_reasons.apply(reason_code, &mut tags);
                }
                Analysis {
                    language: language::detect(&prepared.text),
                    normalised_text: prepared.text,
                    tags,
                    sentiment,
                    sentiment_score: output.sentiment_score,
                    keywords,
                    analyser_version: output
                        .tagged_by
                        .unwrap_or_else(|| self.tagger.version().to_string()),
                }
            })
            .collect()
    }

    pub fn analyse(&self, text: &str) -> Analysis {
        let mut batch = self.analyse_batch(&[AnalysisInput {
            text,
            rating: None,
            reason_code: None,
        }]);
        batch.remove(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyser() -> Analyser {
        Analyser::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons"),
            &TaggerChoice::Lexicon,
        )
        .expect("shipped lexicon")
    }

    #[test]
    fn contrast_gives_two_tags_of_opposite_polarity() {
        let analysis = analyser().analyse("物流很快，但是衣服起球");
        assert_eq!(
            analysis.tag_polarities(),
            vec![
                ("logistics.speed".to_string(), "pos"),
                ("product.material".to_string(), "neg")
            ]
        );
        assert_eq!(
            analysis.sentiment,
            Polarity::Neg,
            "the verdict after 但是 weighs more"
        );
    }

    #[test]
    fn negation_flips_polarity() {
        let analysis = analyser().analyse("物流不快");
        assert_eq!(
            analysis.tag_polarities(),
            vec![("logistics.speed".to_string(), "neg")]
        );
        let analysis = analyser().analyse("洗了几次也不起球");
        assert_eq!(
            analysis.tag_polarities(),
            vec![("product.material".to_string(), "pos")]
        );
    }

    #[test]
    fn evidence_points_at_the_clause_and_words() {
        let analysis = analyser().analyse("物流很快，但是衣服起球");
        let material = analysis
            .tags
            .iter()
            .find(|tag| tag.tag == "product.material")
            .expect("material tag");
        assert_eq!(material.evidence.clause, "但是衣服起球");
        assert_eq!(material.evidence.clause_span, [5, 11]);
        assert_eq!(material.evidence.text, "起球");
        assert_eq!(material.evidence.span, [9, 11]);
    }

    #[test]
    fn generic_praise_has_no_tag_but_a_sentiment() {
        let analysis = analyser().analyse("很好，推荐购买");
        assert!(analysis.tags.is_empty(), "{:?}", analysis.tags);
        assert_eq!(analysis.sentiment, Polarity::Pos);
    }

    #[test]
    fn traditional_and_full_width_text_is_tagged() {
        let analysis = analyser().analyse("質量很差，ＸＬ碼偏小");
        assert_eq!(analysis.normalised_text, "质量很差，XL码偏小");
        assert_eq!(
            analysis.tag_polarities(),
            vec![
                ("product.quality".to_string(), "neg"),
                ("product.size_fit".to_string(), "neg")
            ]
        );
    }

    #[test]
    fn records_the_lexicon_version() {
        let analysis = analyser().analyse("好评");
        assert!(
            analysis.analyser_version.starts_with("lexicon:lex-"),
            "{}",
            analysis.analyser_version
        );
    }
}
