//! The tantivy index: what search, facets and boards read.
//!
//! The database is the system of record; the index is derived from it and
//! can always be rebuilt (`xinsheng reindex`). Documents are keyed by the
//! feedback id: adding an item first deletes any document with the same id,
//! so replaying a batch after a crash never leaves duplicates.
//! If the index directory is missing, unreadable, from an older schema, or
//! one of its segment files is missing or fails its checksum, it is moved
//! aside and rebuilt from the database at start.
//! A failed add or commit (a full disk, an I/O error) rolls the writer back
//! to the last commit: tantivy's writer is unusable after one of its
//! indexing threads failed, and the rolled-back documents are still pending
//! in the database, so the worker stages them again once the cause is gone.

pub mod aggregate;
pub mod export;
pub mod fault_hook;
pub mod schema;
pub mod search;

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use tantivy::schema::{Schema, Value};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::feedback::Analysis;
use crate::nlp::segment::{Segmenter, TOKENIZER_NAME};
use crate::store::StoredFeedback;
use schema::Fields;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("the index is locked by another process (is `xinsheng serve` running on this data directory?)")]
    Locked,
    #[error("cannot prepare index directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("this index was opened read-only")]
    ReadOnly,
    #[error("{message}")]
    InvalidQuery {
        field: &'static str,
        message: String,
    },
}

pub struct FeedbackIndex {
    segmenter: Segmenter,
    reader: IndexReader,
    writer: Option<Mutex<IndexWriter>>,
    fields: Fields,
    schema: Schema,
}

/// Whether opening found a usable index or had to start an empty one (in
/// which case every stored item must be re-indexed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Existing,
    Fresh,
}

const WRITER_MEMORY_BYTES: usize = 96 * 1024 * 1024;

impl FeedbackIndex {
    pub fn open(
        dir: &Path,
        segmenter: &Segmenter,
        writable: bool,
    ) -> Result<(FeedbackIndex, Opened), IndexError> {
        let schema = schema::build();
        let directory_error = |source| IndexError::Directory {
            path: dir.to_path_buf(),
            source,
        };
        let existed = dir.join("meta.json").exists();
        let mut opened = if existed {
            Opened::Existing
        } else {
            Opened::Fresh
        };
        let opened_index = existed.then(|| Index::open_in_dir(dir));
        let damage = match &opened_index {
            Some(Ok(index)) if index.schema() == schema => damaged_files(index),
            _ => None,
        };
        let index = match (opened_index, damage) {
            (Some(Ok(index)), None) if index.schema() == schema => index,
            (Some(outcome), damage) => {
                let reason = match (outcome, damage) {
                    (_, Some(damage)) => damage,
                    (Ok(_), None) => "schema changed".to_string(),
                    (Err(error), None) => error.to_string(),
                };
                if !writable {
                    return Err(IndexError::Tantivy(tantivy::TantivyError::SchemaError(format!(
                        "index at {} is unusable ({reason}); start the service or run `xinsheng reindex` to rebuild it",
                        dir.display()
                    ))));
                }
                let aside = dir.with_extension(format!("broken-{}", crate::time::now_unix()));
                tracing::warn!(path = %dir.display(), aside = %aside.display(), reason, "index unusable, rebuilding from the database");
                std::fs::rename(dir, &aside).map_err(directory_error)?;
                opened = Opened::Fresh;
                std::fs::create_dir_all(dir).map_err(directory_error)?;
                Index::create_in_dir(dir, schema.clone())?
            }
            (None, _) => {
                std::fs::create_dir_all(dir).map_err(directory_error)?;
                Index::create_in_dir(dir, schema.clone())?
            }
        };
        index
            .tokenizers()
            .register(TOKENIZER_NAME, TextAnalyzer::from(segmenter.tokenizer()));
        let writer = if writable {
            match index.writer(WRITER_MEMORY_BYTES) {
                Ok(writer) => Some(Mutex::new(writer)),
                Err(tantivy::TantivyError::LockFailure(..)) => return Err(IndexError::Locked),
                Err(error) => return Err(error.into()),
            }
        } else {
            None
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let fields = Fields::resolve(&schema)?;
        Ok((
            FeedbackIndex {
                segmenter: segmenter.clone(),
                reader,
                writer,
                fields,
                schema,
            },
            opened,
        ))
    }

    fn writer(&self) -> Result<&Mutex<IndexWriter>, IndexError> {
        self.writer.as_ref().ok_or(IndexError::ReadOnly)
    }

    /// Stages documents; they become visible after [`FeedbackIndex::commit`].
    pub fn add(&self, items: &[(&StoredFeedback, &Analysis)]) -> Result<(), IndexError> {
        let mut writer = self.writer()?.lock();
        for (item, analysis) in items {
            let document = self.document(item, analysis)?;
            writer.delete_term(Term::from_field_u64(self.fields.id, item.id as u64));
            if let Err(error) = writer.add_document(document) {
                roll_back_after_failure(&mut writer, &error);
                return Err(error.into());
            }
        }
        Ok(())
    }

    fn document(
        &self,
        stored: &StoredFeedback,
        analysis: &Analysis,
    ) -> Result<TantivyDocument, IndexError> {
        let field = |name: &str| self.schema.get_field(name);
        let item = &stored.item;
        let mut document = TantivyDocument::default();
        document.add_u64(self.fields.id, stored.id as u64);
        document.add_text(self.fields.text, &analysis.normalised_text);
        let context = item.context_text();
        if !context.is_empty() {
            document.add_text(
                self.fields.context,
                crate::nlp::normalise::normalise(&context),
            );
        }
        document.add_i64(self.fields.created_at, item.created_at);
        if let Some(rating) = item.rating {
            document.add_u64(self.fields.rating, u64::from(rating));
        }
        let optional = [
            (schema::SKU, &item.sku),
            (schema::CATEGORY, &item.category),
            (schema::PRODUCT_NAME, &item.product_name),
            (schema::CONSUMER_ID, &item.consumer_id),
            (schema::STORE, &item.store),
            (schema::REASON_CODE, &item.reason_code),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                document.add_text(field(name)?, value);
            }
        }
        document.add_text(field(schema::SOURCE)?, item.source.as_str());
        document.add_text(field(schema::CHANNEL)?, &item.channel);
        document.add_text(field(schema::EXTERNAL_ID)?, &item.external_id);
        document.add_text(field(schema::SENTIMENT)?, analysis.sentiment.as_str());
        document.add_text(field(schema::LANGUAGE)?, &analysis.language);
        for tag in &analysis.tags {
            document.add_text(field(schema::TAG)?, &tag.tag);
            document.add_text(field(schema::LIBRARY)?, &tag.library);
            document.add_text(field(schema::POLARITY)?, tag.polarity.as_str());
            document.add_text(
                field(schema::TAG_POLARITY)?,
                format!("{}:{}", tag.tag, tag.polarity.as_str()),
            );
            document.add_text(
                field(schema::LIBRARY_POLARITY)?,
                format!("{}:{}", tag.library, tag.polarity.as_str()),
            );
        }
        if let Some(reason) = &item.reason_code {
            for tag in &analysis.tags {
                if tag.polarity == crate::feedback::Polarity::Neg {
                    document.add_text(field(schema::REASON_TAG)?, format!("{reason}|{}", tag.tag));
                }
            }
        }
        if !analysis.tags.is_empty() {
            let mentions = serde_json::to_string(&analysis.tags).map_err(|error| {
                IndexError::Tantivy(tantivy::TantivyError::InternalError(format!(
                    "cannot encode tag mentions: {error}"
                )))
            })?;
            document.add_text(self.fields.tag_mentions, mentions);
        }
        for keyword in &analysis.keywords {
            document.add_text(field(schema::KEYWORD)?, keyword);
        }
        Ok(document)
    }

    /// Makes staged documents durable and visible to searches.
    /// On failure nothing staged since the last commit is kept (see the
    /// module docs).
    pub fn commit(&self) -> Result<(), IndexError> {
        {
            let mut writer = self.writer()?.lock();
            let committed = writer.prepare_commit().and_then(|prepared| {
                fault_hook::pause(fault_hook::CommitPoint::SegmentsWritten);
                prepared.commit()
            });
            if let Err(error) = committed {
                roll_back_after_failure(&mut writer, &error);
                return Err(error.into());
            }
        }
        self.reader.reload()?;
        Ok(())
    }

    /// Deletes every document (staged; visible after commit).
    pub fn clear(&self) -> Result<(), IndexError> {
        self.writer()?.lock().delete_all_documents()?;
        Ok(())
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub(crate) fn stored_strings(
        document: &TantivyDocument,
        field: tantivy::schema::Field,
    ) -> Vec<String> {
        document
            .get_all(field)
            .filter_map(|value| value.as_str().map(str::to_string))
            .collect()
    }
}

/// Why an index that opened cannot be used: a file of its committed
/// segments failing its checksum (bytes overwritten, a torn copy) or
/// missing. tantivy reads segment files through memory maps and trusts
/// them, so damage found later would surface as panics in searches;
/// checking at start reads every segment file once.
fn damaged_files(index: &Index) -> Option<String> {
    match index.validate_checksum() {
        Ok(damaged) if damaged.is_empty() => {}
        Ok(damaged) => {
            let mut names: Vec<String> = damaged
                .iter()
                .map(|path| path.display().to_string())
                .collect();
            names.sort();
            let shown = names.len().min(3);
            return Some(format!(
                "{} segment files fail their checksum ({}{})",
                names.len(),
                names[..shown].join(", "),
                if names.len() > shown { ", ..." } else { "" }
            ));
        }
        Err(error) => return Some(format!("cannot verify segment files: {error}")),
    }
    // Opening a reader opens every segment's files: one missing fails here.
    let reader: tantivy::Result<IndexReader> = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into();
    reader
        .err()
        .map(|error| format!("segments cannot be opened: {error}"))
}

/// Replaces a writer whose add or commit failed by a fresh one at the last
/// commit; without this, every later add fails ("index writer was killed")
/// until the process restarts.
fn roll_back_after_failure(writer: &mut IndexWriter, cause: &tantivy::TantivyError) {
    match writer.rollback() {
        Ok(opstamp) => {
            tracing::warn!(%cause, opstamp, "index writer rolled back to its last commit")
        }
        Err(error) => {
            tracing::error!(%cause, %error, "index writer could not be rolled back")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_with_an_older_schema_is_set_aside_and_rebuilt() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let lexicon = crate::nlp::lexicon::Lexicon::load(&root.join("lexicons")).expect("lexicon");
        let segmenter = Segmenter::new(&lexicon);
        let data = tempfile::tempdir().expect("tempdir");
        let dir = data.path().join("index");
        std::fs::create_dir_all(&dir).expect("mkdir");
        // The schema before tag mentions were stored: every field but that one.
        let mut older = tantivy::schema::SchemaBuilder::new();
        for (_, entry) in schema::build().fields() {
            if entry.name() != schema::TAG_MENTIONS {
                older.add_field(entry.clone());
            }
        }
        Index::create_in_dir(&dir, older.build()).expect("old index");

        let (index, opened) = FeedbackIndex::open(&dir, &segmenter, true).expect("opens");
        assert_eq!(opened, Opened::Fresh, "the caller must requeue every item");
        assert_eq!(index.num_docs(), 0);
        let set_aside = std::fs::read_dir(data.path())
            .expect("list")
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().contains(".broken-"));
        assert!(set_aside, "the old index is kept aside, not deleted");
        drop(index);
        let (_, reopened) = FeedbackIndex::open(&dir, &segmenter, true).expect("reopens");
        assert_eq!(reopened, Opened::Existing);
    }
}
