//! File import (`xinsheng import FILE`): CSV exports and JSONL.
//!
//! Rows become API items (same validation as `POST /api/v1/feedback`) and
//! are stored in batches. Unlike the API, an invalid row does not refuse the
//! file: it is reported with its row number and skipped, because an export
//! of 100,000 rows with three broken ones should still load. Progress is
//! checkpointed per batch under a key derived from the file's content, so an
//! interrupted import resumes where it stopped; re-importing a finished file
//! stores nothing twice (items are idempotent by external_id).
//!
//! CSV columns are mapped to item fields by header name: the item field
//! names themselves, the column names of common Chinese platform exports
//! (评价内容, 评分, 商品ID, 订单号, 买家昵称, 评价时间, ...), or explicit
//! `--map field=column` flags, which win.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::validate::{self, ItemError, Limits};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("CSV error: {0}")]
    Csv(#[from] csv::Error),
    #[error("unknown file format of {0}: use a .csv, .jsonl or .ndjson file or pass --format")]
    UnknownFormat(String),
    #[error("invalid --map `{0}`: expected field=column")]
    InvalidMapping(String),
    #[error("CSV has no column for the feedback text; map one with --map text=COLUMN")]
    NoTextColumn,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub format: Option<Format>,
    /// Default `source` for rows that do not carry one.
    pub source: Option<String>,
    /// Default `channel` for rows that do not carry one.
    pub channel: Option<String>,
    /// `field=column` overrides for CSV.
    pub mappings: Vec<String>,
    pub batch_size: usize,
    pub utc_offset_seconds: i64,
    pub limits: Limits,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImportReport {
    pub rows_read: u64,
    pub rows_skipped_as_done: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub invalid: Vec<(u64, ItemError)>,
}

/// Column names of common platform exports, by item field.
const PRESET_COLUMNS: &[(&str, &[&str])] = &[
    (
        "external_id",
        &[
            "external_id",
            "评价ID",
            "评价id",
            "退款编号",
            "工单号",
            "id",
        ],
    ),
    (
        "text",
        &[
            "text",
            "评价内容",
            "初次评价",
            "评论内容",
            "内容",
            "退款原因说明",
            "退款说明",
            "content",
        ],
    ),
    ("rating", &["rating", "评分", "星级", "score"]),
    (
        "sku",
        &["sku", "商品ID", "商品id", "SKU", "商品编码", "货号"],
    ),
    (
        "product_name",
        &["product_name", "商品名称", "宝贝名称", "商品标题"],
    ),
    ("order_id", &["order_id", "订单号", "订单编号", "子订单号"]),
    (
        "consumer_id",
        &[
            "consumer_id",
            "买家ID",
            "买家id",
            "买家昵称",
            "会员ID",
            "用户ID",
        ],
    ),
    (
        "created_at",
        &["created_at", "评价时间", "申请时间", "创建时间", "时间"],
    ),
    ("category", &["category", "类目", "商品类目"]),
    ("channel", &["channel", "渠道", "平台"]),
    ("source", &["source"]),
    ("store", &["store", "门店", "店铺"]),
];

pub fn detect_format(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "csv" => Some(Format::Csv),
        "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
        _ => None,
    }
}

/// Content-derived key: the same file resumes under the same key wherever it lives.
fn file_key(path: &Path) -> Result<String, ImportError> {
    let io_error = |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(io_error)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn column_mapping(
    headers: &csv::StringRecord,
    overrides: &[String],
) -> Result<HashMap<&'static str, usize>, ImportError> {
    let position = |name: &str| headers.iter().position(|header| header.trim() == name);
    let mut mapping = HashMap::new();
    for (field, candidates) in PRESET_COLUMNS {
        if let Some(index) = candidates.iter().find_map(|candidate| position(candidate)) {
            mapping.insert(*field, index);
        }
    }
    for entry in overrides {
        let (field, column) = entry
            .split_once('=')
            .ok_or_else(|| ImportError::InvalidMapping(entry.clone()))?;
        let field = PRESET_COLUMNS
            .iter()
            .map(|(field, _)| *field)
            .find(|known| *known == field.trim())
            .ok_or_else(|| ImportError::InvalidMapping(entry.clone()))?;
        let index =
            position(column.trim()).ok_or_else(|| ImportError::InvalidMapping(entry.clone()))?;
        mapping.insert(field, index);
    }
    if !mapping.contains_key("text") {
        return Err(ImportError::NoTextColumn);
    }
    Ok(mapping)
}

fn csv_row_to_item(
    record: &csv::StringRecord,
    mapping: &HashMap<&'static str, usize>,
    options: &ImportOptions,
) -> Value {
    let mut object = Map::new();
    for (field, index) in mapping {
        let Some(cell) = record
            .get(*index)
            .map(str::trim)
            .filter(|cell| !cell.is_empty())
        else {
            continue;
        };
        let value = match *field {
            "rating" => cell
                .parse::<f64>()
                .ok()
                .filter(|rating| rating.fract() == 0.0)
                .map_or_else(
                    || Value::String(cell.to_string()),
                    |rating| Value::from(rating as i64),
                ),
            "created_at" => Value::String(
                crate::time::parse_local_datetime(cell, options.utc_offset_seconds)
                    .map(|instant| crate::time::format_rfc3339(instant, options.utc_offset_seconds))
                    .unwrap_or_else(|| cell.to_string()),
            ),
            _ => Value::String(cell.to_string()),
        };
        object.insert(field.to_string(), value);
    }
    Value::Object(object)
}

/// Fills `source`/`channel` defaults and an `external_id` derived from the
/// row's content when the file has none, so re-imports stay idempotent.
fn complete(mut item: Value, options: &ImportOptions) -> Value {
    if let Value::Object(object) = &mut item {
        for (field, default) in [("source", &options.source), ("channel", &options.channel)] {
            if !object.contains_key(field) {
                if let Some(default) = default {
                    object.insert(field.to_string(), Value::String(default.clone()));
                }
            }
        }
        if !object.contains_key("external_id") {
            let mut hasher = Sha256::new();
            for field in ["text", "created_at", "consumer_id", "order_id", "sku"] {
                hasher.update(
                    object
                        .get(field)
                        .map(Value::to_string)
                        .unwrap_or_default()
                        .as_bytes(),
                );
                hasher.update([0]);
            }
            let digest = hex::encode(hasher.finalize());
            object.insert(
                "external_id".into(),
                Value::String(format!("import-{}", &digest[..24])),
            );
        }
    }
    item
}

pub fn import_file(
    store: &Store,
    path: &Path,
    options: &ImportOptions,
    mut on_progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let format = options
        .format
        .or_else(|| detect_format(path))
        .ok_or_else(|| ImportError::UnknownFormat(path.display().to_string()))?;
    let key = file_key(path)?;
    let resume_from = store.import_progress(&key)?;
    let io_error = |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;

    let rows: Box<dyn Iterator<Item = Result<Value, ImportError>>> = match format {
        Format::Jsonl => Box::new(BufReader::new(file).lines().filter_map(
            move |line| match line {
                Ok(line) if line.trim().is_empty() => None,
                Ok(line) => {
                    Some(Ok(serde_json::from_str(&line).unwrap_or_else(|error| {
                        Value::String(format!("invalid JSON: {error}"))
                    })))
                }
                Err(error) => Some(Err(io_error(error))),
            },
        )),
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
            let mapping = column_mapping(reader.headers()?, &options.mappings)?;
            let options = options.clone();
            Box::new(
                reader
                    .into_records()
                    .map(move |record| Ok(csv_row_to_item(&record?, &mapping, &options))),
            )
        }
    };

    let mut report = ImportReport::default();
    let mut batch = Vec::with_capacity(options.batch_size);
    let now = crate::time::now_unix();
    let path_text = path.display().to_string();
    let mut flush = |batch: &mut Vec<crate::feedback::NewFeedback>,
                     report: &mut ImportReport,
                     rows_done: u64|
     -> Result<(), ImportError> {
        let inserted = store.insert_batch(batch, now)?;
        for item in &inserted {
            if item.duplicate {
                report.duplicates += 1;
            } else {
                report.stored += 1;
            }
        }
        batch.clear();
        store.save_import_progress(&key, &path_text, rows_done, crate::time::now_unix())?;
        on_progress(rows_done);
        Ok(())
    };
    for (row_index, row) in rows.enumerate() {
        let row_number = row_index as u64 + 1;
        let value = row?;
        report.rows_read += 1;
        if row_number <= resume_from {
            report.rows_skipped_as_done += 1;
            continue;
        }
        let value = complete(value, options);
        match validate::validate_item(row_index, &value, &options.limits, now) {
            Ok(item) => batch.push(item),
            Err(error) => report.invalid.push((row_number, error)),
        }
        if batch.len() >= options.batch_size {
            flush(&mut batch, &mut report, row_number)?;
        }
    }
    let rows_read = report.rows_read;
    flush(&mut batch, &mut report, rows_read)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn options() -> ImportOptions {
        ImportOptions {
            format: None,
            source: Some("review".into()),
            channel: Some("tmall".into()),
            mappings: Vec::new(),
            batch_size: 2,
            utc_offset_seconds: 8 * 3600,
            limits: Limits {
                max_items: 10_000,
                max_text_chars: 20_000,
            },
        }
    }

    #[test]
    fn imports_a_chinese_review_export_and_resumes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("data"), false).expect("store");
        let csv_path = dir.path().join("reviews.csv");
        std::fs::write(
            &csv_path,
            "评价内容,评分,商品ID,订单号,买家昵称,评价时间\n\
             衣服起球了,2,QH-HD-002,o1,buyer1,2026-11-20 10:00:00\n\
             物流很快,5,QH-TS-001,o2,buyer2,2026-11-19 09:00:00\n\
             ,3,QH-TS-001,o3,buyer3,2026-11-19 09:00:00\n\
             尺码偏小,9,QH-TS-001,o4,buyer4,2026-11-19 09:00:00\n",
        )
        .expect("write");
        let report = import_file(&store, &csv_path, &options(), |_| {}).expect("import");
        assert_eq!(report.stored, 2);
        assert_eq!(
            report
                .invalid
                .iter()
                .map(|(row, error)| (*row, error.field.as_str()))
                .collect::<Vec<_>>(),
            vec![(3, "text"), (4, "rating")]
        );
        let first = store.get(1).expect("get").expect("row");
        assert_eq!(first.item.sku.as_deref(), Some("QH-HD-002"));
        assert_eq!(first.item.consumer_id.as_deref(), Some("buyer1"));
        assert_eq!(
            first.item.created_at,
            crate::time::parse_rfc3339("2026-11-20T10:00:00+08:00").expect("date")
        );
        let again = import_file(&store, &csv_path, &options(), |_| {}).expect("resume");
        assert_eq!((again.stored, again.rows_skipped_as_done), (0, 4));
    }

    #[test]
    fn explicit_mapping_wins_and_unknown_columns_are_refused() {
        let headers = csv::StringRecord::from(vec!["留言", "星"]);
        let mapping =
            column_mapping(&headers, &["text=留言".into(), "rating=星".into()]).expect("mapping");
        assert_eq!((mapping["text"], mapping["rating"]), (0, 1));
        assert!(matches!(
            column_mapping(&headers, &["text=不存在".into()]),
            Err(ImportError::InvalidMapping(_))
        ));
        assert!(matches!(
            column_mapping(&headers, &[]),
            Err(ImportError::NoTextColumn)
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_csv_never_panics(body in "\\PC{0,300}") {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open(&dir.path().join("data"), false).expect("store");
            let path = dir.path().join("x.csv");
            std::fs::write(&path, format!("评价内容,评分\n{body}")).expect("write");
            let _ = import_file(&store, &path, &options(), |_| {});
        }
    }
}
