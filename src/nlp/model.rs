//! The learned tagger: models trained by `models/training/train.py`, run
//! through ONNX Runtime (`ort`, library loaded at start), fed by the
//! `tokenizers` vocabulary, combined with the rules.
//!
//! Per batch of texts:
//! 1. every clause (and every whole item) becomes character and word ids
//!    (cut by [`features`](super::features), the code training used), and
//!    those become n-gram keys ([`ngrams`](super::ngrams)); the input of
//!    each model is the table rows of the keys it knows;
//! 2. `sentiment.onnx` scores items and clauses in one run;
//! 3. `tagger.onnx` scores every clause (and the whole item, which sees the
//!    context a clause lacks) for every tag, given its n-grams, the rules'
//!    hits in it and the tags whose words it mentions;
//! 4. a tag is present when some row passes the tag's calibrated threshold
//!    (stored with the model); the last passing clause is the customer's
//!    final word; the item row counts after every clause, and then the
//!    clause that scores the tag highest is the evidence. Evidence spans come
//!    from the rules' hit for that tag in the clause when there is one, else
//!    the whole clause;
//! 5. `polarity.onnx` gives each tag found its polarity, from the evidence
//!    clause's n-grams (the tagger's keys), rule hits and sentiment and the
//!    whole item's rule hits and sentiment.
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

use super::features::{clause_signals, for_each_clause_token, signal_name, CLAUSE_SEPARATOR};
use super::lexicon::Lexicon;
use super::ngrams::{parse_keys, Kind, KnownKeys, SequenceRows};
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
    pub polarity: PolaritySpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SentimentSpec {
    pub file: String,
    /// The model's known n-gram keys (`onnx_export.py`).
    pub keys: String,
    pub threshold: f32,
}

/// The tagger's polarity part, a graph of its own (ONNX Runtime runs every
/// node of a graph whichever outputs are asked for) that reads the tagger's
/// keys.
#[derive(Debug, Clone, Deserialize)]
pub struct PolaritySpec {
    pub file: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TaggerSpec {
    pub file: String,
    pub keys: String,
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

/// Rows are run in chunks of similar length so padding stays small, and
/// small enough that a run's gathered table rows stay in cache: 512 rows per
/// run took a fifth more CPU time and three times the memory of 128.
const ROWS_PER_RUN: usize = 128;
/// Row lengths have a long tail (a hotel review can hold 10,000 known keys,
/// the median clause 22): a run of 128 rows sorted by length still padded
/// the tail's short rows to its longest, so that two fifths of all gathered
/// cells were padding. Runs stop at this many cells (rows × longest row)
/// too, so long rows go in smaller runs: padding fell from 1.65 to 1.08
/// cells per key for the tagger, 2.03 to 1.11 for sentiment; 4,096 and
/// 16,384 measured no better.
const CELLS_PER_RUN: usize = 8_192;

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
        let bytes = read_model_file(path)?;
        let open = || {
            Session::builder(environment)
                .map_err(|error| file_error(error.to_string()))?
                // Constant folding (the tables' float16 → float32 cast) is
                // level 1; the higher levels fuse and re-lay out operators
                // these graphs do not have, and doubled the tagger's
                // session start (about 33 against 60 ms each, four at start).
                .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level1)
                .map_err(|error| file_error(error.to_string()))?
                .with_intra_threads(1)
                .map_err(|error| file_error(error.to_string()))?
                .commit_from_memory(&bytes)
                .map_err(|error| file_error(format!("not a loadable ONNX model: {error}")))
        };
        let first = open()?;
        let input_names: Vec<&str> = first.inputs().iter().map(|i| i.name()).collect();
        let output_names: Vec<&str> = first.outputs().iter().map(|o| o.name()).collect();
        // Inputs must match exactly: a graph input the service does not feed
        // (a newer model under an older binary) would fail every run, and
        // the items would be tagged by the rules instead.
        if input_names.len() != inputs.len()
            || !inputs.iter().all(|name| input_names.contains(name))
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

    /// A `metadata_props` entry of the model.
    fn metadata(&self, key: &str) -> Option<String> {
        self.sessions[0].lock().metadata().ok()?.custom(key)
    }

    fn with<R>(&self, run: impl FnOnce(&mut Session) -> R) -> R {
        let slot = rayon::current_thread_index().unwrap_or(0) % self.sessions.len();
        run(&mut self.sessions[slot].lock())
    }
}

/// Which model a table row belongs to, as indexed in [`KnownKeys`].
const SENTIMENT: usize = 0;
const TAGGER: usize = 1;

/// One model row (a clause or a whole item): the table rows of its known
/// n-gram keys in each model and, for the tagger, the rules' findings in it
/// (as the columns that are 1).
#[derive(Debug, Clone, Default)]
struct Row {
    keys: [Vec<i64>; 2],
    lexicon: Vec<usize>,
    mentions: Vec<usize>,
}

/// A model output for some rows of a batch, `width` values per row, looked
/// up by row index (empty for rows that were not run).
struct RowValues {
    width: usize,
    /// Row index → its position in `values`; `u32::MAX`: not run.
    slots: Vec<u32>,
    values: Vec<f32>,
    set: u32,
}

impl RowValues {
    fn new(rows: usize, selected: usize, width: usize) -> RowValues {
        RowValues {
            width,
            slots: vec![u32::MAX; rows],
            values: Vec::with_capacity(selected * width),
            set: 0,
        }
    }

    fn set(&mut self, row: usize, values: &[f32]) {
        self.slots[row] = self.set;
        self.set += 1;
        self.values.extend_from_slice(values);
    }
}

impl std::ops::Index<usize> for RowValues {
    type Output = [f32];

    fn index(&self, row: usize) -> &[f32] {
        match self.slots[row] {
            u32::MAX => &[],
            slot => &self.values[slot as usize * self.width..(slot as usize + 1) * self.width],
        }
    }
}

/// What the polarity graph is asked about: a tag found, the evidence clause
/// that carries it (its n-grams, the rules' hits of the tag in it and its
/// sentiment) and its whole item (the rules' hits and sentiment; the
/// evidence clause again when the model scores no item rows). The item's
/// sentiment is the better prior for most tags; the clause overrules it in
/// mixed reviews, and the other clauses' words never reach it.
#[derive(Debug, Clone, Copy)]
struct PolarityQuery {
    tag: usize,
    item: usize,
    evidence: usize,
}

type NamedInputs<'v> = Vec<(
    std::borrow::Cow<'static, str>,
    ort::session::SessionInputValue<'v>,
)>;

/// Runs one chunk of a model's rows (or questions) and hands `store`, for
/// each by its position in the chunk, the values of each of `outputs`
/// (named, with their width).
fn run_chunk<const N: usize>(
    pool: &SessionPool,
    inputs: NamedInputs<'_>,
    outputs: [(&str, usize); N],
    mut store: impl FnMut(usize, [&[f32]; N]),
) -> Result<(), String> {
    pool.with(|session| {
        let results = session.run(inputs).map_err(|error| error.to_string())?;
        let mut values = [&[][..]; N];
        for (slot, (name, _)) in values.iter_mut().zip(outputs) {
            *slot = results[name]
                .try_extract_tensor::<f32>()
                .map_err(|error| error.to_string())?
                .1;
        }
        let rows = values[0].len() / outputs[0].1.max(1);
        for position in 0..rows {
            store(
                position,
                std::array::from_fn(|k| {
                    let width = outputs[k].1;
                    &values[k][position * width..(position + 1) * width]
                }),
            );
        }
        Ok(())
    })
}

/// A `[count, width]` tensor of 0/1 flags: row `position` has 1 in the
/// `columns(position)`.
fn flags<C: IntoIterator<Item = usize>>(
    count: usize,
    width: usize,
    columns: impl Fn(usize) -> C,
) -> Result<Tensor<f32>, String> {
    let mut data = vec![0.0f32; count * width];
    for position in 0..count {
        for column in columns(position) {
            data[position * width + column] = 1.0;
        }
    }
    Tensor::from_array(([count, width], data)).map_err(|error| error.to_string())
}

/// `rows` as one `[rows, longest]` tensor, padded with row 0 (zeros).
fn padded(rows: &[&[i64]]) -> Result<Tensor<i64>, String> {
    let width = rows.iter().map(|row| row.len()).max().unwrap_or(0).max(1);
    let mut data = vec![0i64; rows.len() * width];
    for (index, row) in rows.iter().enumerate() {
        data[index * width..index * width + row.len()].copy_from_slice(row);
    }
    Tensor::from_array(([rows.len(), width], data)).map_err(|error| error.to_string())
}

/// `selected` (rows, or questions about rows) in chunks of similar
/// `length` (of the model input they become).
fn length_chunks<T: Copy>(
    selected: impl Iterator<Item = T>,
    length: impl Fn(T) -> usize,
) -> Vec<Vec<T>> {
    let mut order: Vec<(usize, T)> = selected.map(|item| (length(item), item)).collect();
    order.sort_by_key(|&(length, _)| length);
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut current: Vec<T> = Vec::new();
    for (length, item) in order {
        // Sorted: this row is the longest of the chunk so far.
        if !current.is_empty()
            && (current.len() == ROWS_PER_RUN
                || (current.len() + 1) * length.max(1) > CELLS_PER_RUN)
        {
            chunks.push(std::mem::take(&mut current));
        }
        current.push(item);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

fn column_index(names: &[String]) -> HashMap<String, usize> {
    names
        .iter()
        .enumerate()
        .map(|(column, name)| (name.clone(), column))
        .collect()
}

/// A model's keys file, checked against the digest its graph records.
fn read_keys(path: &Path, model_path: &Path, model: &SessionPool) -> Result<Vec<i64>, ModelError> {
    let expected = model
        .metadata("keys_sha256")
        .ok_or_else(|| ModelError::File {
            path: model_path.to_path_buf(),
            message: "records no keys_sha256: not a model written by onnx_export.py".to_string(),
        })?;
    let bytes = read_model_file(path)?;
    parse_keys(&bytes, &expected).map_err(|error| ModelError::File {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

/// The bytes of one of the model directory's files; errors name the file.
fn read_model_file(path: &Path) -> Result<Vec<u8>, ModelError> {
    let file_error = |message: String| ModelError::File {
        path: path.to_path_buf(),
        message,
    };
    if !path.is_file() {
        return Err(file_error("not found".to_string()));
    }
    std::fs::read(path).map_err(|error| file_error(error.to_string()))
}

pub struct ModelTagger {
    rules: LexiconTagger,
    tokenizer: tokenizers::Tokenizer,
    unknown_id: u32,
    separator_id: u32,
    /// The vocabulary's id of each character of the Basic Multilingual
    /// Plane, as one-character tokens (most tokens) are looked up.
    char_ids: Vec<u32>,
    known_keys: KnownKeys,
    spec: ModelSpec,
    sentiment: SessionPool,
    tagger: SessionPool,
    polarity: SessionPool,
    /// Lexicon tag index → the models' tag index; `None` for a deployment's
    /// own tag, which keeps the rules' verdict.
    model_tag_of: Vec<Option<usize>>,
    /// Lexicon tag index × polarity ([`Polarity::ALL`] order) → column of the
    /// `lexicon` input for that `tag:polarity` rule hit.
    lexicon_columns: Vec<[Option<usize>; 3]>,
    /// Lexicon tag index → column of the `mentions` input.
    mention_columns: Vec<Option<usize>>,
    thresholds: Vec<f32>,
    polarities: Vec<Polarity>,
    version: String,
}

impl ModelTagger {
    pub fn load(
        model_dir: &Path,
        onnxruntime_library: &Path,
        lexicon: Arc<Lexicon>,
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

        let mut char_ids = vec![unknown_id; 0x1_0000];
        for (token, id) in tokenizer.get_vocab(true) {
            let mut chars = token.chars();
            if let (Some(ch), None) = (chars.next(), chars.next()) {
                if let Some(slot) = char_ids.get_mut(ch as usize) {
                    *slot = id;
                }
            }
        }

        let environment = runtime(onnxruntime_library)?;
        let sentiment_path = model_dir.join(&spec.sentiment.file);
        let sentiment = SessionPool::open(&environment, &sentiment_path, &["rows"], &["probs"])?;
        let tagger_path = model_dir.join(&spec.tagger.file);
        let tagger = SessionPool::open(
            &environment,
            &tagger_path,
            &["rows", "bag", "lexicon", "mentions"],
            &["tag_probs", "bag_sums"],
        )?;
        let polarity_path = model_dir.join(&spec.polarity.file);
        let polarity = SessionPool::open(
            &environment,
            &polarity_path,
            &[
                "evidence_rows",
                "item_hits",
                "item_sentiment",
                "evidence_hits",
                "evidence_sentiment",
            ],
            &["polarity_probs"],
        )?;
        // Its rows are the tagger's table rows.
        if polarity.metadata("keys_sha256") != tagger.metadata("keys_sha256") {
            return Err(ModelError::File {
                path: polarity_path,
                message: format!(
                    "reads other keys than the tagger's {}: not exported with it",
                    spec.tagger.keys
                ),
            });
        }
        let sentiment_keys = read_keys(
            &model_dir.join(&spec.sentiment.keys),
            &sentiment_path,
            &sentiment,
        )?;
        let tagger_keys = read_keys(&model_dir.join(&spec.tagger.keys), &tagger_path, &tagger)?;
        let mut models = [&[][..], &[][..]];
        models[SENTIMENT] = &sentiment_keys;
        models[TAGGER] = &tagger_keys;
        let known_keys = KnownKeys::new(models);

        let polarities = spec
            .tagger
            .polarities
            .iter()
            .map(|name| {
                Polarity::parse(name)
                    .ok_or_else(|| spec_error(format!("unknown polarity {name:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The polarity graph reads a tag's rule hits as its own columns of
        // the lexicon input, which must be tag-major in `polarities` order.
        let tag_major = spec.tagger.tags.iter().flat_map(|tag| {
            polarities
                .iter()
                .map(move |&polarity| signal_name(tag, polarity))
        });
        if !tag_major.eq(spec.tagger.lexicon_inputs.iter().cloned()) {
            return Err(spec_error(
                "lexicon_inputs must be each tag's polarities, tag by tag, in `polarities` order"
                    .to_string(),
            ));
        }
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
        // Matched by name, as training matched the names `xinsheng features`
        // wrote.
        let lexicon_names = column_index(&spec.tagger.lexicon_inputs);
        let lexicon_columns = lexicon
            .tags
            .iter()
            .map(|tag| {
                Polarity::ALL
                    .map(|polarity| lexicon_names.get(&signal_name(&tag.id, polarity)).copied())
            })
            .collect();
        let mention_names = column_index(&spec.tagger.mention_inputs);
        let mention_columns = lexicon
            .tags
            .iter()
            .map(|tag| mention_names.get(tag.id.as_str()).copied())
            .collect();
        let version = format!("model:{};lexicon:{}", spec.version, lexicon.version);
        Ok(ModelTagger {
            rules: LexiconTagger::new(lexicon),
            tokenizer,
            unknown_id,
            separator_id,
            char_ids,
            known_keys,
            spec,
            sentiment,
            tagger,
            polarity,
            model_tag_of,
            lexicon_columns,
            mention_columns,
            thresholds,
            polarities,
            version,
        })
    }

    fn id(&self, token: &str) -> u32 {
        let mut chars = token.chars();
        if let (Some(ch), None) = (chars.next(), chars.next()) {
            if let Some(&id) = self.char_ids.get(ch as usize) {
                return id;
            }
        }
        self.tokenizer.token_to_id(token).unwrap_or(self.unknown_id)
    }

    /// Sentiment probability of the `selected` rows, indexed like `rows`
    /// (0 for rows not selected).
    fn run_sentiment(&self, rows: &[Row], selected: &[usize]) -> Result<Vec<f32>, String> {
        let mut probs = vec![0.0f32; rows.len()];
        for chunk in length_chunks(selected.iter().copied(), |i| rows[i].keys[SENTIMENT].len()) {
            let keys: Vec<&[i64]> = chunk
                .iter()
                .map(|&i| rows[i].keys[SENTIMENT].as_slice())
                .collect();
            let inputs = ort::inputs! {
                "rows" => padded(&keys)?,
            };
            run_chunk(
                &self.sentiment,
                inputs,
                [("probs", 1)],
                |position, [values]| {
                    probs[chunk[position]] = values[0];
                },
            )?;
        }
        Ok(probs)
    }

    /// Tag probabilities (`[tags]`) of `clause_rows` and of `item_rows`,
    /// indexed like `rows`. An item row holds only the n-grams across its
    /// clauses' boundaries (see `item_rows`): the rest of its bag is the
    /// sum of its clauses', which the clause runs return.
    fn run_tags(
        &self,
        rows: &[Row],
        clause_rows: &[usize],
        item_rows: &[(usize, std::ops::Range<usize>)],
    ) -> Result<RowValues, String> {
        let tags = self.spec.tagger.tags.len();
        let bag_width = tags + 1;
        let mut probs = RowValues::new(rows.len(), clause_rows.len() + item_rows.len(), tags);
        let mut bags = RowValues::new(rows.len(), clause_rows.len(), bag_width);
        self.run_tag_rows(rows, clause_rows, None, |row, values, bag| {
            probs.set(row, values);
            bags.set(row, bag);
        })?;
        // Each item's bag, in `item_rows` order: the sum of its clauses'.
        let mut item_bags = vec![0.0f32; item_rows.len() * bag_width];
        for ((_, clauses), item_bag) in item_rows.iter().zip(item_bags.chunks_exact_mut(bag_width))
        {
            for clause in clauses.clone() {
                for (sum, value) in item_bag.iter_mut().zip(&bags[clause]) {
                    *sum += value;
                }
            }
        }
        let item_row_indices: Vec<usize> = item_rows.iter().map(|&(row, _)| row).collect();
        self.run_tag_rows(
            rows,
            &item_row_indices,
            Some(&item_bags),
            |row, values, _| probs.set(row, values),
        )?;
        Ok(probs)
    }

    /// Runs the tagger over the `selected` rows with their `bags` (`bag
    /// width` values per selected row, in the same order; `None`: zeros),
    /// and hands `store` each row's tag probabilities and bag sum.
    fn run_tag_rows(
        &self,
        rows: &[Row],
        selected: &[usize],
        bags: Option<&[f32]>,
        mut store: impl FnMut(usize, &[f32], &[f32]),
    ) -> Result<(), String> {
        let columns = self.spec.tagger.lexicon_inputs.len();
        let mentions = self.spec.tagger.mention_inputs.len();
        let tags = self.spec.tagger.tags.len();
        let bag_width = tags + 1;
        // Chunks of positions in `selected`, which index `bags` too.
        let chunks = length_chunks(0..selected.len(), |position| {
            rows[selected[position]].keys[TAGGER].len()
        });
        for chunk in chunks {
            let row_of = |position: usize| &rows[selected[chunk[position]]];
            let keys: Vec<&[i64]> = (0..chunk.len())
                .map(|position| row_of(position).keys[TAGGER].as_slice())
                .collect();
            let chunk_bags: Vec<f32> = match bags {
                Some(bags) => chunk
                    .iter()
                    .flat_map(|&at| &bags[at * bag_width..(at + 1) * bag_width])
                    .copied()
                    .collect(),
                None => vec![0.0; chunk.len() * bag_width],
            };
            let inputs = ort::inputs! {
                "rows" => padded(&keys)?,
                "bag" => Tensor::from_array(([chunk.len(), bag_width], chunk_bags))
                    .map_err(|error| error.to_string())?,
                "lexicon" => flags(chunk.len(), columns, |position| {
                    row_of(position).lexicon.iter().copied()
                })?,
                "mentions" => flags(chunk.len(), mentions, |position| {
                    row_of(position).mentions.iter().copied()
                })?,
            };
            run_chunk(
                &self.tagger,
                inputs,
                [("tag_probs", tags), ("bag_sums", bag_width)],
                |position, [values, bag]| store(selected[chunk[position]], values, bag),
            )?;
        }
        Ok(())
    }

    /// Polarity probabilities (in `self.polarities` order) for `queries`,
    /// indexed like them, given the sentiment of every row they read
    /// (indexed like the rows).
    fn run_polarities(
        &self,
        rows: &[Row],
        queries: &[PolarityQuery],
        sentiment: &[f32],
    ) -> Result<RowValues, String> {
        let width = self.polarities.len();
        let mut probs = RowValues::new(queries.len(), queries.len(), width);
        let chunks = length_chunks(0..queries.len(), |query| {
            rows[queries[query].evidence].keys[TAGGER].len()
        });
        for chunk in chunks {
            let of = |row_of: fn(&PolarityQuery) -> usize| {
                chunk
                    .iter()
                    .map(move |&query| &rows[row_of(&queries[query])])
            };
            let item = |query: &PolarityQuery| query.item;
            let evidence = |query: &PolarityQuery| query.evidence;
            let sentiment_of = |row_of: fn(&PolarityQuery) -> usize| {
                let values: Vec<f32> = chunk
                    .iter()
                    .map(|&query| sentiment[row_of(&queries[query])])
                    .collect();
                Tensor::from_array(([values.len(), 1], values)).map_err(|error| error.to_string())
            };
            // The lexicon columns are tag-major, `width` per tag (checked at
            // load): the decided tag's hits are its own `width` columns.
            let hits_of = |row_of: fn(&PolarityQuery) -> usize| {
                flags(chunk.len(), width, |position| {
                    let query = &queries[chunk[position]];
                    let first = query.tag * width;
                    rows[row_of(query)]
                        .lexicon
                        .iter()
                        .filter_map(move |&column| column.checked_sub(first))
                        .filter(move |&column| column < width)
                })
            };
            let keys: Vec<&[i64]> = of(evidence)
                .map(|row| row.keys[TAGGER].as_slice())
                .collect();
            let inputs = ort::inputs! {
                "evidence_rows" => padded(&keys)?,
                "item_hits" => hits_of(item)?,
                "item_sentiment" => sentiment_of(item)?,
                "evidence_hits" => hits_of(evidence)?,
                "evidence_sentiment" => sentiment_of(evidence)?,
            };
            run_chunk(
                &self.polarity,
                inputs,
                [("polarity_probs", width)],
                |position, [values]| probs.set(chunk[position], values),
            )?;
        }
        Ok(probs)
    }

    /// The rows of one item, the whole item first, then its clauses, cut as
    /// `xinsheng features` cuts them for training (the whole item is its
    /// clauses joined by the separator); and whether the item has any
    /// character at all.
    fn item_rows(&self, prepared: &PreparedText, findings: &RuleFindings) -> (Vec<Row>, bool) {
        let mut chars: Vec<u32> = Vec::with_capacity(prepared.chars.len() + prepared.clauses.len());
        let mut words: Vec<u32> = Vec::with_capacity(prepared.chars.len() + prepared.clauses.len());
        // Per clause: its characters and words in `chars`, `words`.
        let mut spans = Vec::with_capacity(prepared.clauses.len());
        let mut rows = Vec::with_capacity(prepared.clauses.len() + 1);
        let mut whole = Row::default();
        for (index, clause_text) in prepared.clause_texts.iter().enumerate() {
            if index > 0 {
                chars.push(self.separator_id);
                words.push(self.separator_id);
            }
            let (char_start, word_start) = (chars.len(), words.len());
            for_each_clause_token(
                clause_text,
                |token| chars.push(self.id(token)),
                |token| words.push(self.id(token)),
            );
            spans.push([char_start, chars.len(), word_start, words.len()]);
            let signals = clause_signals(self.rules.lexicon(), prepared, findings, index);
            let mut row = Row::default();
            for (tag, polarity) in signals.hits {
                let slot = Polarity::ALL.iter().position(|&p| p == polarity);
                if let Some(column) = slot.and_then(|slot| self.lexicon_columns[tag][slot]) {
                    row.lexicon.push(column);
                }
            }
            row.mentions.extend(
                signals
                    .mentions
                    .iter()
                    .filter_map(|&tag| self.mention_columns[tag]),
            );
            whole.lexicon.extend_from_slice(&row.lexicon);
            whole.mentions.extend_from_slice(&row.mentions);
            rows.push(row);
        }
        // An n-gram inside a clause has the same key in the clause's row and
        // in the whole item's: each is looked up once. The tagger's item row
        // takes only the n-grams across clause boundaries: it is given its
        // clauses' sums (`run_tags`), so each n-gram is gathered once.
        let char_rows = SequenceRows::of(
            &self.known_keys,
            &chars,
            [Kind::CharUni, Kind::CharBi, Kind::CharTri],
            true,
        );
        let word_rows = SequenceRows::of(
            &self.known_keys,
            &words,
            [Kind::WordUni, Kind::WordBi, Kind::WordBi],
            false,
        );
        char_rows.push_known(SENTIMENT, 0, chars.len(), &mut whole.keys[SENTIMENT]);
        word_rows.push_known(SENTIMENT, 0, words.len(), &mut whole.keys[SENTIMENT]);
        // A separator follows every clause but the last.
        let separators = |side: usize| {
            spans[..spans.len().saturating_sub(1)]
                .iter()
                .map(move |span| span[side])
        };
        char_rows.push_known_across(TAGGER, separators(1), &mut whole.keys[TAGGER]);
        word_rows.push_known_across(TAGGER, separators(3), &mut whole.keys[TAGGER]);
        for model in [SENTIMENT, TAGGER] {
            for (row, &[char_start, char_end, word_start, word_end]) in rows.iter_mut().zip(&spans)
            {
                char_rows.push_known(model, char_start, char_end, &mut row.keys[model]);
                word_rows.push_known(model, word_start, word_end, &mut row.keys[model]);
            }
        }
        rows.insert(0, whole);
        (rows, !chars.is_empty())
    }

    fn try_tag_batch(&self, texts: &[PreparedText]) -> Result<Vec<TaggerOutput>, String> {
        /// Rows `item_row` (the whole item) and `clause_rows` (its clauses,
        /// right after it).
        struct Item {
            findings: RuleFindings,
            item_row: usize,
            clause_rows: std::ops::Range<usize>,
            has_chars: bool,
        }
        let mut rows: Vec<Row> = Vec::with_capacity(texts.len() * 6);
        let mut items = Vec::with_capacity(texts.len());
        for prepared in texts {
            let findings = self.rules.find(prepared);
            let item_row = rows.len();
            let (item_rows, has_chars) = self.item_rows(prepared, &findings);
            rows.extend(item_rows);
            items.push(Item {
                findings,
                item_row,
                clause_rows: item_row + 1..item_row + 1 + prepared.clauses.len(),
                has_chars,
            });
        }
        let tags = self.spec.tagger.tags.len();
        // The whole item is tagged too when the model asks for it and the
        // item has clauses at all.
        let tags_item_row = |item: &Item| {
            (self.spec.tagger.item_rows && !item.clause_rows.is_empty()).then_some(item.item_row)
        };
        let clause_rows: Vec<usize> = items
            .iter()
            .flat_map(|item| item.clause_rows.clone())
            .collect();
        let item_rows: Vec<(usize, std::ops::Range<usize>)> = items
            .iter()
            .filter_map(|item| Some((tags_item_row(item)?, item.clause_rows.clone())))
            .collect();
        let tag_probs = self.run_tags(&rows, &clause_rows, &item_rows)?;
        // Per item, per tag present: the row that decides it and the question
        // of its polarity. The last passing clause is the final word; the
        // item row counts after every clause, and its evidence is the clause
        // that scores the tag highest (it has no span of its own).
        let decided: Vec<Vec<(usize, usize, PolarityQuery)>> = items
            .iter()
            .map(|item| {
                (0..tags)
                    .filter_map(|tag_index| {
                        let row = item
                            .clause_rows
                            .clone()
                            .chain(tags_item_row(item))
                            .filter(|&row| tag_probs[row][tag_index] >= self.thresholds[tag_index])
                            .last()?;
                        let evidence = if row == item.item_row {
                            item.clause_rows
                                .clone()
                                .max_by(|&a, &b| {
                                    tag_probs[a][tag_index].total_cmp(&tag_probs[b][tag_index])
                                })
                                .unwrap_or(row)
                        } else {
                            row
                        };
                        let query = PolarityQuery {
                            tag: tag_index,
                            item: tags_item_row(item).unwrap_or(evidence),
                            evidence,
                        };
                        Some((tag_index, row, query))
                    })
                    .collect()
            })
            .collect();
        let polarity_queries: Vec<PolarityQuery> = decided
            .iter()
            .flatten()
            .map(|&(_, _, query)| query)
            .collect();
        // Sentiment is needed for each item and for each evidence clause (a
        // polarity reads both).
        let mut need_sentiment: Vec<usize> = items
            .iter()
            .filter(|item| item.has_chars)
            .map(|item| item.item_row)
            .chain(polarity_queries.iter().map(|query| query.evidence))
            .collect();
        need_sentiment.sort_unstable();
        need_sentiment.dedup();
        let sentiment = self.run_sentiment(&rows, &need_sentiment)?;
        let polarity_probs = self.run_polarities(&rows, &polarity_queries, &sentiment)?;

        // The queries are the decisions in order, item by item.
        let mut asked = 0..polarity_queries.len();
        let outputs = texts
            .iter()
            .zip(items)
            .zip(decided)
            .map(
                |((prepared, item), decided)| -> Result<TaggerOutput, String> {
                    let mut tags = Vec::new();
                    for (tag_index, row, query) in decided {
                        let tag_id = &self.spec.tagger.tags[tag_index];
                        let asked = asked.next().ok_or_else(|| {
                            "a decided tag's polarity was not asked for".to_string()
                        })?;
                        let polarity = polarity_probs[asked]
                            .iter()
                            .enumerate()
                            .max_by(|a, b| a.1.total_cmp(b.1))
                            .map_or(Polarity::Neu, |(index, _)| self.polarities[index]);
                        let clause_index = query.evidence - item.clause_rows.start;
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
                    let (sentiment, sentiment_score) = if !item.has_chars {
                        (Polarity::Neu, 0.0)
                    } else if probability >= self.spec.sentiment.threshold {
                        (Polarity::Pos, 2.0 * probability - 1.0)
                    } else {
                        (Polarity::Neg, 2.0 * probability - 1.0)
                    };
                    Ok(TaggerOutput {
                        tags,
                        sentiment,
                        sentiment_score,
                        tagged_by: None,
                    })
                },
            )
            .collect::<Result<Vec<_>, String>>()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_row_from_its_clauses_sums_scores_as_the_whole_row() {
        // The shipped models, on reviews of several clauses: each item row,
        // run with only its n-grams across clause boundaries and its
        // clauses' sums as `bag`, scores as the whole row's every n-gram
        // with no bag (how training and predict.py run it).
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let analyser =
            crate::nlp::Analyser::load(&root.join("lexicons"), &crate::nlp::TaggerChoice::Lexicon)
                .expect("lexicon");
        let lexicon = Arc::new(Lexicon::load(&root.join("lexicons")).expect("lexicon"));
        let tagger = ModelTagger::load(
            &root.join("models"),
            &root.join(".onnxruntime/libonnxruntime.so"),
            lexicon,
        )
        .expect("shipped models load");
        let mut rows = Vec::new();
        let mut item_rows = Vec::new();
        let mut whole_rows = Vec::new();
        for text in [
            "物流很快，但是衣服起球了，客服也不理人",
            "味道很不错，就是分量太少了。下次不会再买",
            "尺码合适，但是穿了一次就开线了",
            "好",
        ] {
            let prepared = analyser.prepare(text);
            let findings = tagger.rules.find(&prepared);
            let (mut item, _) = tagger.item_rows(&prepared, &findings);
            let mut whole = item[0].clone();
            for clause in &item[1..] {
                whole.keys[TAGGER].extend_from_slice(&clause.keys[TAGGER]);
            }
            let start = rows.len();
            item_rows.push((start, start + 1..start + item.len()));
            whole_rows.push(whole);
            rows.append(&mut item);
        }
        let clause_rows: Vec<usize> = item_rows
            .iter()
            .flat_map(|(_, clauses)| clauses.clone())
            .collect();
        let split = tagger
            .run_tags(&rows, &clause_rows, &item_rows)
            .expect("split run");
        let mut whole = vec![Vec::new(); whole_rows.len()];
        let selected: Vec<usize> = (0..whole_rows.len()).collect();
        tagger
            .run_tag_rows(&whole_rows, &selected, None, |row, values, _| {
                whole[row] = values.to_vec()
            })
            .expect("whole run");
        for ((item_row, _), whole) in item_rows.iter().zip(&whole) {
            for (split, whole) in split[*item_row].iter().zip(whole) {
                assert!((split - whole).abs() < 1e-5, "{split} against {whole}");
            }
        }
        assert!(
            whole.iter().flatten().any(|&p| p > 0.5),
            "some tag is found"
        );
    }

    #[test]
    fn runs_are_cut_by_rows_and_by_cells() {
        // 300 short rows and a long tail: the short ones fill runs of
        // ROWS_PER_RUN, each long one no more cells than CELLS_PER_RUN allows.
        let lengths: Vec<usize> = (0..300)
            .map(|i| 10 + i % 7)
            .chain([5_000, 3_000, 900, 800, 20_000])
            .collect();
        let chunks = length_chunks(0..lengths.len(), |i| lengths[i]);
        let mut seen: Vec<usize> = chunks.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        for chunk in &chunks {
            let longest = chunk.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(chunk.len() <= ROWS_PER_RUN);
            assert!(chunk.len() == 1 || chunk.len() * longest <= CELLS_PER_RUN);
            assert!(chunk.windows(2).all(|p| lengths[p[0]] <= lengths[p[1]]));
        }
        // A row longer than the budget still runs, alone.
        assert!(chunks.iter().any(|chunk| chunk == &[304]));
        // 8,192 cells hold 9 rows of 900 at most: 900 and 800 share a run.
        assert!(chunks.iter().any(|chunk| chunk == &[303, 302]));
    }
}
