//! The learned tagger: models trained by `models/training/train.py`, run
//! through ONNX Runtime (`ort`, library loaded at start), fed by the
//! `tokenizers` vocabulary, combined with the rules.
//!
//! Per batch of texts:
//! 1. every clause (and every whole item) becomes character and word ids
//!    ([`item_features`], the code training used);
//! 2. `sentiment.onnx` scores items and clauses in one run;
//! 3. `tagger.onnx` scores every clause (and the whole item, which sees the
//!    context a clause lacks) for every tag, given its n-grams, the rules'
//!    hits in it and its sentiment; it also gives each tag's polarity;
//! 4. a tag is present when some row passes the tag's calibrated threshold
//!    (stored with the model); the last passing clause is the customer's
//!    final word and gives polarity and evidence. Evidence spans come from the
//!    rules' hit for that tag in the clause when there is one, else the
//!    whole clause.
//!
//! Tags a deployment adds to the lexicon beside the ones the models know
//! keep the rules' verdict.
//!
//! A missing or broken file is an error naming it: the service never falls
//! back to the rules silently (`tagger = "lexicon"` chooses them openly).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ort::session::Session;
use ort::value::Tensor;
use parking_lot::Mutex;
use serde::Deserialize;

use super::features::{item_features, CLAUSE_SEPARATOR};
use super::lexicon::Lexicon;
use super::segment::Segmenter;
use super::tagger::{LexiconTagger, PreparedText, RuleFindings, Tagger, TaggerOutput};
use crate::feedback::{library_of, Evidence, Polarity, TagMention};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("ONNX Runtime library {path}: {message} (run `make onnxruntime`, or point XINSHENG_ONNXRUNTIME_LIB at libonnxruntime.so)")]
    Runtime { path: PathBuf, message: String },
    #[error("model file {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// `models/model.json`, written by training next to the files it names.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    pub version: String,
    pub tokenizer: String,
    pub separator: String,
    pub sentiment: SentimentSpec,
    pub tagger: TaggerSpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SentimentSpec {
    pub file: String,
    pub threshold: f32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TaggerSpec {
    pub file: String,
    pub tags: Vec<String>,
    pub polarities: Vec<String>,
    pub lexicon_inputs: Vec<String>,
    /// Tags whose mention (aspect word, phrase) is an input, in column order.
    pub mention_inputs: Vec<String>,
    pub thresholds: HashMap<String, f32>,
    /// The whole item is scored as one more row after its clauses.
    #[serde(default)]
    pub item_rows: bool,
}

/// Rows are run in chunks of similar length so padding stays small.
const ROWS_PER_RUN: usize = 512;

static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// ONNX Runtime is loaded once per process; later calls reuse it.
fn runtime(library: &Path) -> Result<ort::environment::Environment, ModelError> {
    let result = RUNTIME.get_or_init(|| {
        if !library.is_file() {
            return Err("not found".to_string());
        }
        ort::init_from(library)
            .map_err(|error| error.to_string())?
            .with_name("xinsheng")
            .build()
            .map_err(|error| error.to_string())
    });
    result.clone().map_err(|message| ModelError::Runtime {
        path: library.to_path_buf(),
        message,
    })
}

/// One session per rayon worker: `Session::run` needs `&mut`.
struct SessionPool {
    sessions: Vec<Mutex<Session>>,
}

impl SessionPool {
    fn open(
        environment: &ort::environment::Environment,
        path: &Path,
        inputs: &[&str],
        outputs: &[&str],
    ) -> Result<SessionPool, ModelError> {
        let file_error = |message: String| ModelError::File {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(file_error("not found".to_string()));
        }
        let bytes = std::fs::read(path).map_err(|error| file_error(error.to_string()))?;
        let open = || {
            Session::builder(environment)
                .map_err(|error| file_error(error.to_string()))?
                .with_intra_threads(1)
                .map_err(|error| file_error(error.to_string()))?
                .commit_from_memory(&bytes)
                .map_err(|error| file_error(format!("not a loadable ONNX model: {error}")))
        };
        let first = open()?;
        let input_names: Vec<&str> = first.inputs().iter().map(|i| i.name()).collect();
        let output_names: Vec<&str> = first.outputs().iter().map(|o| o.name()).collect();
        if !inputs.iter().all(|name| input_names.contains(name))
            || !outputs.iter().all(|name| output_names.contains(name))
        {
            return Err(file_error(format!(
                "expected inputs {inputs:?} and outputs {outputs:?}, found {input_names:?} and {output_names:?}"
            )));
        }
        let mut sessions = vec![Mutex::new(first)];
        for _ in 1..rayon::current_num_threads().max(1) {
            sessions.push(Mutex::new(open()?));
        }
        Ok(SessionPool { sessions })
    }

    fn with<R>(&self, run: impl FnOnce(&mut Session) -> R) -> R {
        let slot = rayon::current_thread_index().unwrap_or(0) % self.sessions.len();
        run(&mut self.sessions[slot].lock())
    }
}

/// One model row (a clause or a whole item): its ids and, for the tagger,
/// the rules' findings in it.
#[derive(Debug, Clone, Default)]
struct Row {
    chars: Vec<i64>,
    words: Vec<i64>,
    lexicon: Vec<f32>,
    mentions: Vec<f32>,
}

fn padded(rows: &[&[i64]]) -> Result<Tensor<i64>, String> {
    let width = rows.iter().map(|row| row.len()).max().unwrap_or(0).max(1);
    let mut data = vec![0i64; rows.len() * width];
    for (index, row) in rows.iter().enumerate() {
        data[index * width..index * width + row.len()].copy_from_slice(row);
    }
    Tensor::from_array(([rows.len(), width], data)).map_err(|error| error.to_string())
}

/// `selected` rows in chunks of similar length.
fn length_chunks(rows: &[Row], selected: impl Iterator<Item = usize>) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = selected.collect();
    order.sort_by_key(|&index| rows[index].chars.len() + rows[index].words.len());
    order.chunks(ROWS_PER_RUN).map(<[usize]>::to_vec).collect()
}

fn column_index(names: &[String]) -> HashMap<String, usize> {
    names
        .iter()
        .enumerate()
        .map(|(column, name)| (name.clone(), column))
        .collect()
}

pub struct ModelTagger {
    rules: LexiconTagger,
    segmenter: Segmenter,
    tokenizer: tokenizers::Tokenizer,
    unknown_id: i64,
    separator_id: i64,
    spec: ModelSpec,
    sentiment: SessionPool,
    tagger: SessionPool,
    /// Lexicon tag index → the models' tag index; `None` for a deployment's
    /// own tag, which keeps the rules' verdict.
    model_tag_of: Vec<Option<usize>>,
    /// `tag:polarity` rule hit → column of the `lexicon` input.
    lexicon_columns: HashMap<String, usize>,
    /// Mentioned tag → column of the `mentions` input.
    mention_columns: HashMap<String, usize>,
    thresholds: Vec<f32>,
    polarities: Vec<Polarity>,
    version: String,
}

impl ModelTagger {
    pub fn load(
        model_dir: &Path,
        onnxruntime_library: &Path,
        lexicon: Arc<Lexicon>,
        segmenter: Segmenter,
    ) -> Result<ModelTagger, ModelError> {
        let spec_path = model_dir.join("model.json");
        let spec_error = |message: String| ModelError::File {
            path: spec_path.clone(),
            message,
        };
        let spec_text =
            std::fs::read_to_string(&spec_path).map_err(|error| spec_error(error.to_string()))?;
        let spec: ModelSpec =
            serde_json::from_str(&spec_text).map_err(|error| spec_error(error.to_string()))?;

        let tokenizer_path = model_dir.join(&spec.tokenizer);
        let tokenizer_error = |message: String| ModelError::File {
            path: tokenizer_path.clone(),
            message,
        };
        let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path)
            .map_err(|error| tokenizer_error(error.to_string()))?;
        // Tokens are looked up one by one (`token_to_id`), which is exact only
        // when the tokenizer has nothing to normalise or split.
        if tokenizer.get_normalizer().is_some() || tokenizer.get_pre_tokenizer().is_some() {
            return Err(tokenizer_error(
                "expected a WordLevel vocabulary without normalizer or pre-tokenizer".to_string(),
            ));
        }
        let special = |token: &str| {
            tokenizer
                .token_to_id(token)
                .map(i64::from)
                .ok_or_else(|| tokenizer_error(format!("vocabulary lacks {token}")))
        };
        let unknown_id = special("[UNK]")?;
        let separator_id = special(&spec.separator)?;
        if spec.separator != CLAUSE_SEPARATOR {
            return Err(spec_error(format!(
                "separator {:?} differs from the service's {CLAUSE_SEPARATOR:?}",
                spec.separator
            )));
        }

        let environment = runtime(onnxruntime_library)?;
        let sentiment = SessionPool::open(
            &environment,
            &model_dir.join(&spec.sentiment.file),
            &["char_ids", "word_ids"],
            &["probs"],
        )?;
        let tagger = SessionPool::open(
            &environment,
            &model_dir.join(&spec.tagger.file),
            &[
                "char_ids",
                "word_ids",
                "lexicon",
                "clause_sentiment",
                "mentions",
            ],
            &["tag_probs", "polarity_probs"],
        )?;

        let polarities = spec
            .tagger
            .polarities
            .iter()
            .map(|name| {
                Polarity::parse(name)
                    .ok_or_else(|| spec_error(format!("unknown polarity {name:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let model_tags = column_index(&spec.tagger.tags);
        let model_tag_of = lexicon
            .tags
            .iter()
            .map(|tag| model_tags.get(tag.id.as_str()).copied())
            .collect();
        let thresholds = spec
            .tagger
            .tags
            .iter()
            .map(|tag| {
                spec.tagger
                    .thresholds
                    .get(tag)
                    .copied()
                    .ok_or_else(|| spec_error(format!("no threshold for {tag}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let lexicon_columns = column_index(&spec.tagger.lexicon_inputs);
        let mention_columns = column_index(&spec.tagger.mention_inputs);
        let version = format!("model:{};lexicon:{}", spec.version, lexicon.version);
        Ok(ModelTagger {
            rules: LexiconTagger::new(lexicon),
            segmenter,
            tokenizer,
            unknown_id,
            separator_id,
            spec,
            sentiment,
            tagger,
            model_tag_of,
            lexicon_columns,
            mention_columns,
            thresholds,
            polarities,
            version,
        })
    }

    fn ids(&self, tokens: &[String]) -> Vec<i64> {
        tokens
            .iter()
            .map(|token| {
                self.tokenizer
                    .token_to_id(token)
                    .map_or(self.unknown_id, i64::from)
            })
            .collect()
    }

    /// Sentiment probability of every row.
    fn run_sentiment(&self, rows: &[Row]) -> Result<Vec<f32>, String> {
        let mut probs = vec![0.0f32; rows.len()];
        for chunk in length_chunks(rows, 0..rows.len()) {
            let chars: Vec<&[i64]> = chunk.iter().map(|&i| rows[i].chars.as_slice()).collect();
            let words: Vec<&[i64]> = chunk.iter().map(|&i| rows[i].words.as_slice()).collect();
            let inputs = ort::inputs! {
                "char_ids" => padded(&chars)?,
                "word_ids" => padded(&words)?,
            };
            self.sentiment.with(|session| -> Result<(), String> {
                let outputs = session.run(inputs).map_err(|error| error.to_string())?;
                let (_, values) = outputs["probs"]
                    .try_extract_tensor::<f32>()
                    .map_err(|error| error.to_string())?;
                for (position, &row) in chunk.iter().enumerate() {
                    probs[row] = values[position];
                }
                Ok(())
            })?;
        }
        Ok(probs)
    }

    /// Tag and polarity probabilities of the `selected` rows, indexed like
    /// `rows` (`[tags]`, `[tags * 3]`; empty for rows not selected).
    fn run_tagger(
        &self,
        rows: &[Row],
        selected: impl Iterator<Item = usize>,
        sentiment: &[f32],
    ) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>), String> {
        let tags = self.spec.tagger.tags.len();
        let polarities = self.polarities.len();
        let columns = self.spec.tagger.lexicon_inputs.len();
        let mentions = self.spec.tagger.mention_inputs.len();
        let mut tag_probs = vec![Vec::new(); rows.len()];
        let mut polarity_probs = vec![Vec::new(); rows.len()];
        for chunk in length_chunks(rows, selected) {
            let chars: Vec<&[i64]> = chunk.iter().map(|&i| rows[i].chars.as_slice()).collect();
            let words: Vec<&[i64]> = chunk.iter().map(|&i| rows[i].words.as_slice()).collect();
            let floats = |field: fn(&Row) -> &[f32]| -> Vec<f32> {
                chunk
                    .iter()
                    .flat_map(|&i| field(&rows[i]).iter().copied())
                    .collect()
            };
            let tensor = |width: usize, data: Vec<f32>| {
                Tensor::from_array(([chunk.len(), width], data)).map_err(|error| error.to_string())
            };
            let inputs = ort::inputs! {
                "char_ids" => padded(&chars)?,
                "word_ids" => padded(&words)?,
                "lexicon" => tensor(columns, floats(|row| &row.lexicon))?,
                "clause_sentiment" => tensor(1, chunk.iter().map(|&i| sentiment[i]).collect())?,
                "mentions" => tensor(mentions, floats(|row| &row.mentions))?,
            };
            self.tagger.with(|session| -> Result<(), String> {
                let outputs = session.run(inputs).map_err(|error| error.to_string())?;
                let (_, tag_values) = outputs["tag_probs"]
                    .try_extract_tensor::<f32>()
                    .map_err(|error| error.to_string())?;
                let (_, polarity_values) = outputs["polarity_probs"]
                    .try_extract_tensor::<f32>()
                    .map_err(|error| error.to_string())?;
                for (position, &row) in chunk.iter().enumerate() {
                    tag_probs[row] = tag_values[position * tags..(position + 1) * tags].to_vec();
                    polarity_probs[row] = polarity_values
                        [position * tags * polarities..(position + 1) * tags * polarities]
                        .to_vec();
                }
                Ok(())
            })?;
        }
        Ok((tag_probs, polarity_probs))
    }

    /// The rows of one item: the whole item first, then its clauses, built by
    /// [`item_features`], the code `xinsheng features` feeds to training.
    fn item_rows(&self, prepared: &PreparedText, findings: &RuleFindings) -> Vec<Row> {
        let flags = |names: &[String], columns: &HashMap<String, usize>| {
            let mut row = vec![0.0f32; columns.len()];
            for name in names {
                if let Some(&column) = columns.get(name.as_str()) {
                    row[column] = 1.0;
                }
            }
            row
        };
        let mut whole = Row {
            lexicon: vec![0.0; self.lexicon_columns.len()],
            mentions: vec![0.0; self.mention_columns.len()],
            ..Row::default()
        };
        let mut rows = Vec::with_capacity(prepared.clauses.len() + 1);
        let clauses = item_features(self.rules.lexicon(), &self.segmenter, prepared, findings);
        for (index, clause) in clauses.into_iter().enumerate() {
            let row = Row {
                chars: self.ids(&clause.tokens.chars),
                words: self.ids(&clause.tokens.words),
                lexicon: flags(&clause.lexicon, &self.lexicon_columns),
                mentions: flags(&clause.mentions, &self.mention_columns),
            };
            if index > 0 {
                whole.chars.push(self.separator_id);
                whole.words.push(self.separator_id);
            }
            whole.chars.extend_from_slice(&row.chars);
            whole.words.extend_from_slice(&row.words);
            for (total, value) in whole.lexicon.iter_mut().zip(&row.lexicon) {
                *total = total.max(*value);
            }
            for (total, value) in whole.mentions.iter_mut().zip(&row.mentions) {
                *total = total.max(*value);
            }
            rows.push(row);
        }
        rows.insert(0, whole);
        rows
    }

    fn try_tag_batch(&self, texts: &[PreparedText]) -> Result<Vec<TaggerOutput>, String> {
        /// Rows `item_row` (the whole item) and `item_row + 1 ..` (its clauses).
        struct Item {
            findings: RuleFindings,
            item_row: usize,
        }
        let mut rows: Vec<Row> = Vec::with_capacity(texts.len() * 6);
        let mut items = Vec::with_capacity(texts.len());
        for prepared in texts {
            let findings = self.rules.find(prepared);
            let item_row = rows.len();
            rows.extend(self.item_rows(prepared, &findings));
            items.push(Item { findings, item_row });
        }
        // The sentiment of every item and every clause (the tagger's polarity
        // reads the clause's).
        let sentiment = self.run_sentiment(&rows)?;
        let tagged = items.iter().zip(texts).flat_map(|(item, prepared)| {
            let clauses = item.item_row + 1..item.item_row + 1 + prepared.clauses.len();
            let whole =
                (self.spec.tagger.item_rows && !clauses.is_empty()).then_some(item.item_row);
            clauses.chain(whole)
        });
        let (tag_probs, polarity_probs) = self.run_tagger(&rows, tagged, &sentiment)?;

        let outputs = texts
            .iter()
            .zip(items)
            .map(|(prepared, item)| {
                let mut tags = Vec::new();
                let first_clause = item.item_row + 1;
                let clause_rows = first_clause..first_clause + prepared.clauses.len();
                let item_row = (!tag_probs[item.item_row].is_empty()).then_some(item.item_row);
                for (tag_index, tag_id) in self.spec.tagger.tags.iter().enumerate() {
                    let threshold = self.thresholds[tag_index];
                    // The last passing clause is the final word; the item row
                    // counts after every clause.
                    let passing = clause_rows
                        .clone()
                        .chain(item_row)
                        .filter(|&row| tag_probs[row][tag_index] >= threshold)
                        .last();
                    let Some(row) = passing else { continue };
                    let polarity_slice = &polarity_probs[row][tag_index * self.polarities.len()
                        ..(tag_index + 1) * self.polarities.len()];
                    let polarity = polarity_slice
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map_or(Polarity::Neu, |(index, _)| self.polarities[index]);
                    // The item row has no span of its own: its evidence is the
                    // clause that scores the tag highest.
                    let clause_row = if Some(row) == item_row {
                        clause_rows
                            .clone()
                            .max_by(|&a, &b| {
                                tag_probs[a][tag_index].total_cmp(&tag_probs[b][tag_index])
                            })
                            .unwrap_or(row)
                    } else {
                        row
                    };
                    let clause_index = clause_row - first_clause;
                    let clause = &prepared.clauses[clause_index];
                    let rule_span = item
                        .findings
                        .hits
                        .iter()
                        .filter(|hit| {
                            hit.clause == clause_index
                                && self.model_tag_of[hit.tag] == Some(tag_index)
                        })
                        .max_by_key(|hit| (hit.polarity == polarity, hit.span[0]))
                        .map(|hit| hit.span);
                    let span = rule_span.unwrap_or([clause.start, clause.end]);
                    tags.push(TagMention {
                        library: library_of(tag_id).to_string(),
                        tag: tag_id.clone(),
                        polarity,
                        score: tag_probs[row][tag_index],
                        evidence: Evidence {
                            clause: prepared.chars[clause.start..clause.end].iter().collect(),
                            clause_span: [clause.start, clause.end],
                            span,
                            text: prepared.chars[span[0]..span[1]].iter().collect(),
                            segment: None,
                            start_ms: None,
                            field: None,
                        },
                    });
                }
                let rules_only: Vec<_> = item
                    .findings
                    .hits
                    .iter()
                    .filter(|hit| self.model_tag_of[hit.tag].is_none())
                    .cloned()
                    .collect();
                if !rules_only.is_empty() {
                    tags.extend(self.rules.final_verdicts(rules_only, prepared));
                }
                tags.sort_by_key(|tag| tag.evidence.span[0]);
                let probability = sentiment[item.item_row];
                let (sentiment, sentiment_score) = if rows[item.item_row].chars.is_empty() {
                    (Polarity::Neu, 0.0)
                } else if probability >= self.spec.sentiment.threshold {
                    (Polarity::Pos, 2.0 * probability - 1.0)
                } else {
                    (Polarity::Neg, 2.0 * probability - 1.0)
                };
                TaggerOutput {
                    tags,
                    sentiment,
                    sentiment_score,
                    tagged_by: None,
                }
            })
            .collect();
        Ok(outputs)
    }
}

impl Tagger for ModelTagger {
    fn version(&self) -> &str {
        &self.version
    }

    fn tag_batch(&self, texts: &[PreparedText]) -> Vec<TaggerOutput> {
        match self.try_tag_batch(texts) {
            Ok(outputs) => outputs,
            // Inference on a model that loaded and passed its checks fails
            // only on resource exhaustion; the items are still analysed, by
            // the rules, say so in their version (`reindex --reanalyse`
            // redoes them) and the log says so.
            Err(error) => {
                tracing::error!(%error, "model inference failed; this batch is tagged by the rules");
                let version = self.rules.version().to_string();
                let mut outputs = self.rules.tag_batch(texts);
                for output in &mut outputs {
                    output.tagged_by = Some(version.clone());
                }
                outputs
            }
        }
    }
}
