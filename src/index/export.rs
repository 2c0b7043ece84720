//! Export of a whole search result set as CSV (the search page's "export").
//!
//! Two steps, so that a bad query is still a clean JSON error: [`FeedbackIndex::export`]
//! runs the query and keeps the ordered addresses (at most
//! [`MAX_EXPORT_ROWS`]) with the searcher that can read them; then
//! [`Export::write_csv`] reads the stored documents in that order and writes
//! rows to any writer, so the caller can stream it without holding the
//! whole file.
//!
//! The file opens with a UTF-8 byte-order mark (Excel needs it to read
//! Chinese text as UTF-8). Customer-typed cells starting with `=`, `+`, `-`,
//! `@` or a control character get a leading `'`: spreadsheets would
//! otherwise run them as formulas (CSV injection).

use std::io::Write;

use tantivy::schema::{Schema, Value};
use tantivy::{DocAddress, Searcher, TantivyDocument};

use super::schema::{self, Fields};
use super::search::{Filters, SortOrder};
use super::{FeedbackIndex, IndexError};

pub const MAX_EXPORT_ROWS: usize = 50_000;

pub const CSV_COLUMNS: [&str; 12] = [
    "id",
    "created_at",
    "source",
    "channel",
    "sku",
    "product_name",
    "category",
    "consumer_id",
    "rating",
    "sentiment",
    "tags",
    "text",
];

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write CSV: {0}")]
    Io(#[from] std::io::Error),
}

/// A result set ready to be written: the documents' addresses in order.
pub struct Export {
    searcher: Searcher,
    addresses: Vec<DocAddress>,
    schema: Schema,
    fields: Fields,
}

impl FeedbackIndex {
    /// Runs the query of a search (same free text, filters and order) and
    /// keeps up to [`MAX_EXPORT_ROWS`] hits.
    pub fn export(
        &self,
        text: Option<&str>,
        filters: &Filters,
        sort: SortOrder,
    ) -> Result<Export, IndexError> {
        let searcher = self.reader.searcher();
        let (query, has_text) = self.build_query(text, filters)?;
        let (ranked, _) =
            self.ranked(&searcher, &*query, has_text, sort, MAX_EXPORT_ROWS, 0, None)?;
        Ok(Export {
            addresses: ranked.into_iter().map(|(_, address)| address).collect(),
            searcher,
            schema: self.schema.clone(),
            fields: self.fields.clone(),
        })
    }
}

impl Export {
    pub fn rows(&self) -> usize {
        self.addresses.len()
    }

    /// Writes the BOM, the header and one row per document, in order.
    pub fn write_csv(
        &self,
        mut out: impl Write,
        utc_offset_seconds: i64,
    ) -> Result<(), ExportError> {
        out.write_all(UTF8_BOM)?;
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(CSV_COLUMNS)?;
        let field = |name: &str| self.schema.get_field(name).map_err(IndexError::from);
        let string_fields = [
            field(schema::SOURCE)?,
            field(schema::CHANNEL)?,
            field(schema::SKU)?,
            field(schema::PRODUCT_NAME)?,
            field(schema::CATEGORY)?,
            field(schema::CONSUMER_ID)?,
        ];
        let sentiment = field(schema::SENTIMENT)?;
        let tag_polarity = field(schema::TAG_POLARITY)?;
        let mut record: Vec<String> = Vec::with_capacity(CSV_COLUMNS.len());
        for address in &self.addresses {
            let document: TantivyDocument =
                self.searcher.doc(*address).map_err(IndexError::from)?;
            let first = |field| {
                document
                    .get_first(field)
                    .and_then(|value| value.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            record.clear();
            record.push(
                document
                    .get_first(self.fields.id)
                    .and_then(|value| value.as_u64())
                    .map_or_else(String::new, |id| id.to_string()),
            );
            record.push(
                document
                    .get_first(self.fields.created_at)
                    .and_then(|value| value.as_i64())
                    .map_or_else(String::new, |created_at| {
                        crate::time::format_rfc3339(created_at, utc_offset_seconds)
                    }),
            );
            for string_field in string_fields {
                record.push(defuse_formula(first(string_field)));
            }
            record.push(
                document
                    .get_first(self.fields.rating)
                    .and_then(|value| value.as_u64())
                    .map_or_else(String::new, |rating| rating.to_string()),
            );
            record.push(first(sentiment));
            record.push(defuse_formula(
                FeedbackIndex::stored_strings(&document, tag_polarity).join(";"),
            ));
            record.push(defuse_formula(first(self.fields.text)));
            writer.write_record(&record)?;
        }
        writer.flush()?;
        Ok(())
    }
}

/// A leading `'` keeps spreadsheets from evaluating a cell as a formula.
fn defuse_formula(cell: String) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_others_kept() {
        assert_eq!(
            defuse_formula("=HYPERLINK(\"x\")".into()),
            "'=HYPERLINK(\"x\")"
        );
        assert_eq!(defuse_formula("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(defuse_formula("物流太慢".into()), "物流太慢");
        assert_eq!(defuse_formula(String::new()), "");
    }
}
