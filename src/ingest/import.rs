//! File import (`xinsheng import FILE`): CSV and XLSX exports, JSONL, and
//! call transcripts.
//!
//! Rows become API items (same validation as `POST /api/v1/feedback`) and
//! are stored in batches. Unlike the API, an invalid row does not refuse the
//! file: it is reported with its row number and skipped, because an export
//! of 100,000 rows with three broken ones should still load. Progress is
//! checkpointed per batch under a key derived from the file's content, so an
//! interrupted import resumes where it stopped; re-importing a finished file
//! stores nothing twice (items are idempotent by external_id).
//!
//! CSV and XLSX columns are mapped to item fields by header name: the item
//! field names themselves, the column names of common Chinese platform
//! exports (评价内容, 评分, 商品ID, 订单号, 追评内容, 退款原因, ...), or
//! explicit `--map field=column` flags, which win. Both go through the same
//! path once a row is a list of cell texts.
//!
//! A transcript file (.srt, .vtt, or .json with `segments`) is one `call`
//! item whose `segments` keep the recogniser's raw words; fillers are removed
//! at analysis ([`super::transcript::clean_asr`]). A transcript has no
//! columns, so `--map field=value` sets a field of its item instead
//! (`--map external_id=CALL-1 --map created_at="2026-11-21 09:31:00"`); by
//! default the external_id is the file name without its extension.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::transcript::{self, TranscriptError};
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
    #[error("cannot read workbook {path}: {source}")]
    Workbook {
        path: String,
        source: calamine::Error,
    },
    #[error("workbook {0} has no worksheet")]
    NoWorksheet(String),
    #[error("transcript {path}: {source}")]
    Transcript {
        path: String,
        source: TranscriptError,
    },
    #[error(
        "unknown file format of {0}: use a .csv, .xlsx, .jsonl, .ndjson, .srt, .vtt or .json file or pass --format"
    )]
    UnknownFormat(String),
    #[error("invalid --map `{0}`: expected field=column")]
    InvalidMapping(String),
    #[error("no column for the feedback text; map one with --map text=COLUMN")]
    NoTextColumn,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    /// A spreadsheet: XLSX, XLSM, XLS, XLSB or ODS; its first worksheet is read.
    Xlsx,
    /// A call transcript: SRT, WebVTT, or JSON segments.
    Transcript,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub format: Option<Format>,
    /// Default `source` for rows that do not carry one.
    pub source: Option<String>,
    /// Default `channel` for rows that do not carry one.
    pub channel: Option<String>,
    /// `field=column` overrides for CSV and XLSX; `field=value` for a transcript.
    pub mappings: Vec<String>,
    pub batch_size: usize,
    pub utc_offset_seconds: i64,
    pub limits: Limits,
    pub privacy: super::Privacy,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImportReport {
    pub rows_read: u64,
    pub rows_skipped_as_done: u64,
    pub stored: u64,
    pub duplicates: u64,
    /// Duplicates whose stored item changed, e.g. a review that gained a 追评
    /// since the last export.
    pub updated: u64,
    pub invalid: Vec<(u64, ItemError)>,
}

/// Column names of common platform exports (Tmall/Taobao, JD, Douyin,
/// Pinduoduo), by item field. The first name found in a file wins, so the
/// more specific names come first. A name belongs to one field only.
const PRESET_COLUMNS: &[(&str, &[&str])] = &[
    (
        "external_id",
        &[
            "external_id",
            "评价ID",
            "评价编号",
            "评论ID",
            "退款编号",
            "退款单号",
            "售后单号",
            "售后编号",
            "服务单号",
            "工单号",
            "工单编号",
            "id",
        ],
    ),
    (
        "text",
        &[
            "text",
            "评价内容",
            "初次评价",
            "初评内容",
            "首次评价内容",
            "评论内容",
            "内容",
            "退款原因说明",
            "退款说明",
            "退货说明",
            "问题描述",
            "售后描述",
            "content",
        ],
    ),
    (
        "rating",
        &[
            "rating",
            "评分",
            "星级",
            "评价星级",
            "商品评分",
            "宝贝评分",
            "score",
        ],
    ),
    (
        "sku",
        &[
            "sku",
            "商品ID",
            "宝贝ID",
            "商品编号",
            "商品编码",
            "商品SKU",
            "SKU编码",
            "SKU ID",
            "SKUID",
            "货号",
        ],
    ),
    (
        "product_name",
        &[
            "product_name",
            "商品名称",
            "宝贝名称",
            "商品标题",
            "宝贝标题",
        ],
    ),
    (
        "order_id",
        &[
            "order_id",
            "订单号",
            "订单编号",
            "子订单号",
            "子订单编号",
            "订单ID",
            "主订单编号",
        ],
    ),
    (
        "consumer_id",
        &[
            "consumer_id",
            "买家ID",
            "买家昵称",
            "买家会员名",
            "买家账号",
            "会员ID",
            "用户ID",
            "用户昵称",
            "用户名",
        ],
    ),
    (
        "created_at",
        &[
            "created_at",
            "评价时间",
            "评论时间",
            "初评时间",
            "申请时间",
            "退款申请时间",
            "售后申请时间",
            "创建时间",
            "提交时间",
            "时间",
        ],
    ),
    (
        "followup_text",
        &[
            "followup_text",
            "追评",
            "追评内容",
            "追加评论",
            "追加评价",
            "追评内容(买家)",
            "追评内容（买家）",
        ],
    ),
    (
        "followup_at",
        &["followup_at", "追评时间", "追加评论时间", "追加评价时间"],
    ),
    (
        "reason_code",
        &[
            "reason_code",
            "退款原因",
            "退货原因",
            "售后原因",
            "申请原因",
            "退款/退货原因",
        ],
    ),
    (
        "category",
        &["category", "类目", "商品类目", "类目名称", "叶子类目"],
    ),
    ("channel", &["channel", "渠道", "平台", "来源平台"]),
    ("source", &["source"]),
    ("store", &["store", "门店", "店铺", "店铺名称", "店铺名"]),
];

/// Fields of a transcript's item that `--map field=value` may set.
const TRANSCRIPT_FIELDS: &[&str] = &[
    "external_id",
    "channel",
    "created_at",
    "order_id",
    "sku",
    "product_name",
    "category",
    "consumer_id",
    "store",
];

/// The format of a file from its extension and, where the extension says
/// too little, its first bytes: a `.json` file is a transcript when it holds
/// `segments` and JSON lines otherwise; a file without a known extension may
/// still be recognisable as SRT or WebVTT.
pub fn detect_format(path: &Path, head: &[u8]) -> Option<Format> {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => Some(Format::Csv),
        Some("jsonl" | "ndjson") => Some(Format::Jsonl),
        Some("json") => {
            let text = String::from_utf8_lossy(head);
            let text = text.trim_start_matches('\u{FEFF}').trim_start();
            if text.starts_with('{') && text.contains("\"segments\"") {
                Some(Format::Transcript)
            } else {
                Some(Format::Jsonl)
            }
        }
        Some("xlsx" | "xlsm" | "xls" | "xlsb" | "ods") => Some(Format::Xlsx),
        Some("srt" | "vtt") => Some(Format::Transcript),
        _ => match transcript::detect_format(path, head) {
            Some(transcript::TranscriptFormat::Srt | transcript::TranscriptFormat::WebVtt) => {
                Some(Format::Transcript)
            }
            _ => None,
        },
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The first bytes of a file, enough for [`detect_format`].
fn file_head(path: &Path) -> Result<Vec<u8>, ImportError> {
    // Enough to see `"segments"` past a transcript's metadata.
    const HEAD_BYTES: u64 = 64 * 1024;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(HEAD_BYTES).read_to_end(&mut head))
        .map_err(io_error(path))?;
    Ok(head)
}

/// Content-derived key: the same file resumes under the same key wherever it lives.
fn file_key(path: &Path) -> Result<String, ImportError> {
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(io_error(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Header cells as written by exports: a BOM on the first, stray spaces,
/// and English names in any case.
fn header_matches(header: &str, name: &str) -> bool {
    header
        .trim_start_matches('\u{FEFF}')
        .trim()
        .eq_ignore_ascii_case(name)
}

fn column_mapping(
    headers: &[String],
    overrides: &[String],
) -> Result<HashMap<&'static str, usize>, ImportError> {
    let position = |name: &str| {
        headers
            .iter()
            .position(|header| header_matches(header, name))
    };
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
        // One column feeds one field: an override moves it.
        mapping.retain(|_, mapped| *mapped != index);
        mapping.insert(field, index);
    }
    if !mapping.contains_key("text") {
        return Err(ImportError::NoTextColumn);
    }
    Ok(mapping)
}

/// Spreadsheet habits that hide a value: `="3612870045521903871"` keeps
/// Excel from rounding a long order number; a leading tab does the same.
fn cell_value(cell: &str) -> &str {
    let cell = cell.trim();
    cell.strip_prefix("=\"")
        .and_then(|rest| rest.strip_suffix('"'))
        .map(str::trim)
        .unwrap_or(cell)
}

/// `5`, `5.0`, `5星`, `5分`, `★★★★★`: the ways exports write a star rating.
fn rating_value(cell: &str) -> Value {
    let stars = cell.chars().filter(|ch| *ch == '★').count();
    if stars > 0 && cell.chars().all(|ch| ch == '★' || ch == '☆') {
        return Value::from(stars as i64);
    }
    cell.trim_end_matches(['星', '分'])
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|rating| rating.fract() == 0.0 && rating.abs() < 1e9)
        .map_or_else(
            || Value::String(cell.to_string()),
            |rating| Value::from(rating as i64),
        )
}

/// Local spreadsheet times become RFC 3339 in the deployment's offset;
/// anything unparseable is passed on for validation to name.
fn time_value(cell: &str, options: &ImportOptions) -> Value {
    Value::String(
        crate::time::parse_local_datetime(cell, options.utc_offset_seconds)
            .map(|instant| crate::time::format_rfc3339(instant, options.utc_offset_seconds))
            .unwrap_or_else(|| cell.to_string()),
    )
}

/// One CSV or XLSX row as an API item. Empty cells are left out, so an
/// optional field is absent rather than "".
fn row_to_item(
    row: &[String],
    mapping: &HashMap<&'static str, usize>,
    options: &ImportOptions,
) -> Value {
    let mut object = Map::new();
    for (field, index) in mapping {
        let Some(cell) = row
            .get(*index)
            .map(|cell| cell_value(cell))
            .filter(|cell| !cell.is_empty())
        else {
            continue;
        };
        let value = match *field {
            "rating" => rating_value(cell),
            "created_at" | "followup_at" => time_value(cell, options),
            _ => Value::String(cell.to_string()),
        };
        object.insert(field.to_string(), value);
    }
    Value::Object(object)
}

/// Fills `source`/`channel` defaults and an `external_id` derived from the
/// row's content when the file has none, so re-imports stay idempotent. The
/// 追评 is left out of the hash: a later export of the same review, now with
/// its 追评, must land on the same item.
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

type Rows = Box<dyn Iterator<Item = Result<Value, ImportError>>>;

/// Header and data rows of a table share one path: map by header, then
/// turn each row into an item.
fn table_rows(
    headers: &[String],
    rows: impl Iterator<Item = Result<Vec<String>, ImportError>> + 'static,
    options: &ImportOptions,
) -> Result<Rows, ImportError> {
    let mapping = column_mapping(headers, &options.mappings)?;
    let options = options.clone();
    Ok(Box::new(rows.map(move |row| {
        row.map(|row| row_to_item(&row, &mapping, &options))
    })))
}

fn csv_rows(path: &Path, options: &ImportOptions) -> Result<Rows, ImportError> {
    let file = std::fs::File::open(path).map_err(io_error(path))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let headers: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let records = reader.into_records().map(|record| {
        record
            .map(|record| record.iter().map(str::to_string).collect())
            .map_err(ImportError::from)
    });
    table_rows(&headers, records, options)
}

/// The first worksheet; its first non-empty row is the header (exports put
/// titles and blank rows above it, which the sheet's range already skips
/// when they are empty). Blank rows are skipped.
fn xlsx_rows(path: &Path, options: &ImportOptions) -> Result<Rows, ImportError> {
    use calamine::Reader;

    let workbook_error = |source| ImportError::Workbook {
        path: path.display().to_string(),
        source,
    };
    let mut workbook = calamine::open_workbook_auto(path).map_err(workbook_error)?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| ImportError::NoWorksheet(path.display().to_string()))?
        .map_err(workbook_error)?;
    let mut rows = range
        .rows()
        .map(|row| row.iter().map(spreadsheet_cell).collect::<Vec<String>>())
        .filter(|row| row.iter().any(|cell| !cell.trim().is_empty()));
    let headers = rows.next().unwrap_or_default();
    let rows: Vec<Vec<String>> = rows.collect();
    table_rows(&headers, rows.into_iter().map(Ok), options)
}

/// A cell as the text a CSV export of the same sheet would hold: whole
/// numbers without ".0" (ids and star ratings), date cells as
/// "YYYY-MM-DD HH:MM:SS" local time, error cells (#N/A) as nothing.
fn spreadsheet_cell(cell: &calamine::Data) -> String {
    use calamine::Data;
    match cell {
        Data::Empty | Data::Error(_) => String::new(),
        Data::String(text) => text.clone(),
        Data::Int(number) => number.to_string(),
        // Beyond 2^53 a float no longer holds every integer exactly; such a
        // value was never an exact id, so it keeps its float spelling.
        Data::Float(number) if number.fract() == 0.0 && number.abs() < 9.0e15 => {
            (*number as i64).to_string()
        }
        Data::Float(number) => number.to_string(),
        Data::Bool(value) => value.to_string(),
        Data::DateTime(datetime) if datetime.is_datetime() => {
            excel_datetime(datetime).unwrap_or_else(|| datetime.as_f64().to_string())
        }
        Data::DateTime(datetime) => datetime.as_f64().to_string(),
        Data::DateTimeIso(text) => iso_local(text),
        Data::DurationIso(text) => text.clone(),
    }
}

fn excel_datetime(datetime: &calamine::ExcelDateTime) -> Option<String> {
    let serial = datetime.as_f64();
    // Excel's own range, 1900-01-01 to 9999-12-31.
    if !(0.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let (year, month, day, hour, minute, second, milli) = datetime.to_ymd_hms_milli();
    // calamine truncates the seconds of the day, so 10:00:00 stored as
    // 0.41666.. reads as 09:59:59 and 1000 ms; rounding to the second undoes it.
    let month = time::Month::try_from(month).ok()?;
    let date = time::Date::from_calendar_date(i32::from(year), month, day).ok()?;
    let clock = time::Time::from_hms(hour, minute, second).ok()?;
    let mut local = time::PrimitiveDateTime::new(date, clock)
        .checked_add(time::Duration::milliseconds(i64::from(milli)))?;
    if local.millisecond() >= 500 {
        local = local.checked_add(time::Duration::seconds(1))?;
    }
    let local = local.replace_millisecond(0).ok()?;
    let format = if serial < 1.0 {
        time::macros::format_description!("[hour]:[minute]:[second]")
    } else {
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")
    };
    local.format(&format).ok()
}

/// ODS writes `2026-11-20T10:00:00` without an offset: a local time, which
/// [`crate::time::parse_local_datetime`] reads with a space.
fn iso_local(text: &str) -> String {
    let local = text.len() >= 19
        && text.as_bytes()[10] == b'T'
        && text.is_char_boundary(19)
        && !text[19..].contains(['Z', 'z', '+', '-']);
    if local {
        format!("{} {}", &text[..10], &text[11..19])
    } else {
        text.to_string()
    }
}

/// A transcript file as one `call` item with raw segments.
fn transcript_item(path: &Path, options: &ImportOptions) -> Result<Value, ImportError> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let format = transcript::detect_format(path, &bytes)
        .ok_or_else(|| ImportError::UnknownFormat(path.display().to_string()))?;
    let segments =
        transcript::parse_transcript(&bytes, format).map_err(|source| ImportError::Transcript {
            path: path.display().to_string(),
            source,
        })?;
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut object = Map::new();
    object.insert("source".into(), Value::String("call".into()));
    object.insert("external_id".into(), Value::String(stem));
    object.insert(
        "channel".into(),
        Value::String(options.channel.clone().unwrap_or_else(|| "import".into())),
    );
    object.insert(
        "created_at".into(),
        Value::String(crate::time::format_rfc3339(
            crate::time::now_unix(),
            options.utc_offset_seconds,
        )),
    );
    object.insert(
        "segments".into(),
        serde_json::to_value(&segments).unwrap_or_default(),
    );
    for entry in &options.mappings {
        let (field, value) = entry
            .split_once('=')
            .map(|(field, value)| (field.trim(), value.trim()))
            .filter(|(field, value)| TRANSCRIPT_FIELDS.contains(field) && !value.is_empty())
            .ok_or_else(|| ImportError::InvalidMapping(entry.clone()))?;
        let value = match field {
            "created_at" => time_value(value, options),
            _ => Value::String(value.to_string()),
        };
        object.insert(field.to_string(), value);
    }
    Ok(Value::Object(object))
}

fn jsonl_rows(path: &Path) -> Result<Rows, ImportError> {
    let file = std::fs::File::open(path).map_err(io_error(path))?;
    let path_text = path.display().to_string();
    Ok(Box::new(BufReader::new(file).lines().filter_map(
        move |line| match line {
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => {
                Some(Ok(serde_json::from_str(&line).unwrap_or_else(|error| {
                    Value::String(format!("invalid JSON: {error}"))
                })))
            }
            Err(source) => Some(Err(ImportError::Io {
                path: path_text.clone(),
                source,
            })),
        },
    )))
}

/// [`detect_format`] for a file on disk; unknown formats are an error.
pub fn detect_file_format(path: &Path) -> Result<Format, ImportError> {
    detect_format(path, &file_head(path)?)
        .ok_or_else(|| ImportError::UnknownFormat(path.display().to_string()))
}

/// The file's rows as items, before defaults and validation.
fn read_rows(path: &Path, options: &ImportOptions) -> Result<Rows, ImportError> {
    let format = match options.format {
        Some(format) => format,
        None => detect_file_format(path)?,
    };
    match format {
        Format::Jsonl => jsonl_rows(path),
        Format::Csv => csv_rows(path, options),
        Format::Xlsx => xlsx_rows(path, options),
        Format::Transcript => Ok(Box::new(std::iter::once(transcript_item(path, options)))),
    }
}

pub fn import_file(
    store: &Store,
    path: &Path,
    options: &ImportOptions,
    mut on_progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let rows = read_rows(path, options)?;
    let key = file_key(path)?;
    let resume_from = store.import_progress(&key)?;

    let mut report = ImportReport::default();
    let mut batch = Vec::with_capacity(options.batch_size);
    let now = crate::time::now_unix();
    let path_text = path.display().to_string();
    let mut originals: Vec<Vec<crate::store::raw_texts::RawText>> = Vec::new();
    let mut flush = |batch: &mut Vec<crate::feedback::NewFeedback>,
                     originals: &mut Vec<Vec<crate::store::raw_texts::RawText>>,
                     report: &mut ImportReport,
                     rows_done: u64|
     -> Result<(), ImportError> {
        let inserted = store.insert_batch_keeping(batch, originals, now)?;
        originals.clear();
        for item in &inserted {
            if item.duplicate {
                report.duplicates += 1;
                if item.updated {
                    report.updated += 1;
                }
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
            Ok(mut item) => {
                originals.push(options.privacy.apply(&mut item));
                batch.push(item)
            }
            Err(error) => report.invalid.push((row_number, error)),
        }
        if batch.len() >= options.batch_size {
            flush(&mut batch, &mut originals, &mut report, row_number)?;
        }
    }
    let rows_read = report.rows_read;
    flush(&mut batch, &mut originals, &mut report, rows_read)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

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
            privacy: Default::default(),
        }
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sources")
            .join(name)
    }

    /// The items a file produces, defaults filled, before validation.
    fn items(path: &Path, options: &ImportOptions) -> Vec<Value> {
        read_rows(path, options)
            .expect("readable")
            .map(|row| complete(row.expect("row"), options))
            .collect()
    }

    fn strings(headers: &[&str]) -> Vec<String> {
        headers.iter().map(|header| header.to_string()).collect()
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
        let headers = strings(&["留言", "星"]);
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
        // An override takes the column away from the preset field that had it.
        let headers = strings(&["\u{FEFF}评价内容", "追评内容"]);
        let mapping = column_mapping(&headers, &["text=追评内容".into()]).expect("mapping");
        assert_eq!(mapping.get("text"), Some(&1));
        assert_eq!(mapping.get("followup_text"), None);
    }

    #[test]
    fn every_preset_column_name_belongs_to_one_field() {
        let mut seen = HashMap::new();
        for (field, names) in PRESET_COLUMNS {
            for name in *names {
                if let Some(other) = seen.insert(name.to_ascii_lowercase(), *field) {
                    panic!("`{name}` is a column name of both {other} and {field}");
                }
            }
        }
    }

    #[test]
    fn maps_followup_and_refund_reason_presets() {
        let jd = items(&fixture("reviews_jd.csv"), &options());
        assert_eq!(jd.len(), 3);
        assert_eq!(
            jd[0],
            json!({
                "source": "review",
                "channel": "tmall",
                "external_id": jd[0]["external_id"],
                "sku": "100038475621",
                "product_name": "空气净化器4代",
                "order_id": "287346512345",
                "consumer_id": "jd_橙子",
                "rating": 5,
                "text": "噪音很小，净化效果明显，第二天就送到了",
                "created_at": "2026-11-15T10:22:31+08:00",
                "followup_text": "用了半个月，滤芯有股塑料味",
                "followup_at": "2026-11-30T20:01:05+08:00",
            })
        );
        assert!(jd[0]["external_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("import-")));
        // Empty 追评 cells are left out, not sent as "".
        assert!(jd[1].get("followup_text").is_none() && jd[1].get("followup_at").is_none());
        assert_eq!(jd[2]["followup_at"], "2026-12-01T12:00:00+08:00");
        assert_eq!(jd[2]["created_at"], "2026-11-20T08:05:00+08:00");

        let refund_options = ImportOptions {
            source: Some("refund".into()),
            ..options()
        };
        let refunds = items(&fixture("refunds.csv"), &refund_options);
        assert_eq!(
            refunds[0],
            json!({
                "source": "refund",
                "channel": "tmall",
                "external_id": "2045511230981",
                "order_id": "3601122334455667788",
                "sku": "652300118734",
                "consumer_id": "buyer_9f2a",
                "created_at": "2026-11-21T09:12:45+08:00",
                "reason_code": "尺码拍错/不喜欢/效果差",
                "text": "平时穿L，这件L穿着紧，想换XL没货了",
            })
        );
        assert_eq!(refunds[2]["reason_code"], "7天无理由退换货");
        assert!(
            refunds[2].get("text").is_none(),
            "a refund without 退款说明 carries its reason only"
        );
    }

    #[test]
    fn reads_an_xlsx_export_with_date_cells_and_followups() {
        let tmall = items(&fixture("reviews_tmall.xlsx"), &options());
        assert_eq!(tmall.len(), 3, "the blank row is skipped");
        assert_eq!(
            tmall[0],
            json!({
                "source": "review",
                "channel": "tmall",
                "external_id": tmall[0]["external_id"],
                "sku": "652300118734",
                "product_name": "加绒卫衣男冬季",
                "order_id": "3612870045521903871",
                "consumer_id": "t**8",
                "rating": 5,
                "text": "版型不错，穿着挺暖和，物流也快",
                "created_at": "2026-11-18T21:15:00+08:00",
                "followup_text": "洗了两次袖口就起球了，有点失望",
                "followup_at": "2026-11-29T09:03:27+08:00",
                "store": "青禾旗舰店",
            })
        );
        assert!(tmall[1].get("followup_text").is_none());
        assert_eq!(tmall[1]["created_at"], "2026-11-19T10:00:00+08:00");
        assert_eq!(tmall[2]["rating"], 1);
        assert_eq!(tmall[2]["followup_at"], "2026-12-02T14:20:00+08:00");
    }

    #[test]
    fn spreadsheet_cells_read_as_an_export_would_write_them() {
        use calamine::{Data, ExcelDateTime, ExcelDateTimeType};
        let date = |serial| {
            Data::DateTime(ExcelDateTime::new(
                serial,
                ExcelDateTimeType::DateTime,
                false,
            ))
        };
        let cases = [
            (Data::Float(652300118734.0), "652300118734"),
            (Data::Float(4.5), "4.5"),
            (Data::Int(-3), "-3"),
            (Data::String(" 好 ".into()), " 好 "),
            (Data::Empty, ""),
            (Data::Bool(true), "true"),
            (date(46344.0), "2026-11-18 00:00:00"),
            // 10:00:00 is 0.41666.. of a day; it must not read as 09:59:59.
            (date(46344.0 + 10.0 / 24.0), "2026-11-18 10:00:00"),
            (date(0.75), "18:00:00"),
            (date(-1.0), "-1"),
            (date(3e6), "3000000"),
            (
                Data::DateTimeIso("2026-11-20T10:00:00".into()),
                "2026-11-20 10:00:00",
            ),
            (
                Data::DateTimeIso("2026-11-20T10:00:00+08:00".into()),
                "2026-11-20T10:00:00+08:00",
            ),
        ];
        for (cell, expected) in cases {
            assert_eq!(spreadsheet_cell(&cell), expected, "{cell:?}");
        }
        assert_eq!(
            cell_value("=\"3612870045521903871\""),
            "3612870045521903871"
        );
        assert_eq!(cell_value("\t287346512345"), "287346512345");
        for (cell, expected) in [
            ("5", json!(5)),
            ("4.0", json!(4)),
            ("5星", json!(5)),
            ("★★★☆☆", json!(3)),
            ("好评", json!("好评")),
        ] {
            assert_eq!(rating_value(cell), expected, "{cell}");
        }
    }

    #[test]
    fn a_transcript_file_is_one_call_item() {
        let srt = fixture("call_20261121_0931.srt");
        let call = items(&srt, &options());
        assert_eq!(call.len(), 1);
        let item = &call[0];
        assert_eq!(
            (&item["source"], &item["channel"], &item["external_id"]),
            (
                &json!("call"),
                &json!("tmall"),
                &json!("call_20261121_0931")
            )
        );
        assert!(
            item.get("text").is_none(),
            "the text is composed from the segments"
        );
        assert_eq!(
            item["segments"],
            json!([
                {"speaker": "agent", "text": "您好，青禾旗舰店，请问有什么可以帮您", "start_ms": 0, "end_ms": 3200},
                {"speaker": "customer", "text": "嗯 那个 我上周买的卫衣 快递 一直 没到", "start_ms": 3200, "end_ms": 9850},
                {"speaker": "customer", "text": "都一个星期了 物流也不更新", "start_ms": 9850, "end_ms": 12400},
                {"speaker": "agent", "text": "非常抱歉，我帮您联系一下快递公司", "start_ms": 12400, "end_ms": 16000},
                {"speaker": "customer", "text": "嗯嗯 好的", "start_ms": 16000, "end_ms": 17100},
            ])
        );
        assert!(item["created_at"]
            .as_str()
            .and_then(crate::time::parse_rfc3339)
            .is_some());

        let json_call = fixture("call_20261122_1405.json");
        assert_eq!(
            detect_format(&json_call, &file_head(&json_call).expect("head")),
            Some(Format::Transcript)
        );
        let given = ImportOptions {
            channel: None,
            mappings: vec![
                "external_id=400-20261122-1405".into(),
                "created_at=2026-11-22 14:05:00".into(),
                "order_id=287346600012".into(),
            ],
            ..options()
        };
        let item = &items(&json_call, &given)[0];
        assert_eq!(item["external_id"], "400-20261122-1405");
        assert_eq!(item["channel"], "import");
        assert_eq!(item["created_at"], "2026-11-22T14:05:00+08:00");
        assert_eq!(item["order_id"], "287346600012");
        assert_eq!(item["segments"][1]["speaker"], "customer");
        assert_eq!(item["segments"][2]["start_ms"], 7900);

        let refused = ImportOptions {
            mappings: vec!["rating=5".into()],
            ..options()
        };
        assert!(matches!(
            read_rows(&json_call, &refused).map(|mut rows| rows.next()),
            Ok(Some(Err(ImportError::InvalidMapping(_))))
        ));
    }

    #[test]
    fn a_broken_transcript_names_the_cue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.srt");
        std::fs::write(&path, "1\n00:00:01,000 --> soon\n你好\n").expect("write");
        let error = read_rows(&path, &options())
            .and_then(|mut rows| rows.next().unwrap_or(Err(ImportError::NoTextColumn)))
            .expect_err("broken timing");
        assert!(
            matches!(
                &error,
                ImportError::Transcript {
                    source: TranscriptError::Cue {
                        cue: 1,
                        line: 2,
                        ..
                    },
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn detects_formats() {
        let cases: [(&str, &[u8], Option<Format>); 9] = [
            ("a.csv", b"", Some(Format::Csv)),
            ("a.JSONL", b"", Some(Format::Jsonl)),
            ("a.json", b"{\"external_id\": \"1\"}\n", Some(Format::Jsonl)),
            (
                "a.json",
                b"\xef\xbb\xbf {\"segments\": []}",
                Some(Format::Transcript),
            ),
            ("a.xlsx", b"", Some(Format::Xlsx)),
            ("a.xls", b"", Some(Format::Xlsx)),
            ("a.vtt", b"", Some(Format::Transcript)),
            (
                "call",
                b"WEBVTT\n\n00:01.000 --> 00:02.000\nhi",
                Some(Format::Transcript),
            ),
            ("a.txt", b"hello", None),
        ];
        for (path, head, expected) in cases {
            assert_eq!(detect_format(Path::new(path), head), expected, "{path}");
        }
    }

    /// These go through `validate_item`, so they need its support for
    /// `followup_text`, `followup_at`, `reason_code` and `segments`.
    #[test]
    fn stores_xlsx_refund_and_transcript_imports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("data"), false).expect("store");
        let report =
            import_file(&store, &fixture("reviews_tmall.xlsx"), &options(), |_| {}).expect("xlsx");
        assert_eq!((report.rows_read, report.stored), (3, 3), "{report:?}");
        let reviewed = store.get(1).expect("get").expect("row");
        assert!(
            reviewed
                .item
                .segments
                .iter()
                .any(|segment| segment.kind.as_deref() == Some("followup")),
            "{:?}",
            reviewed.item.segments
        );
        let refund_options = ImportOptions {
            source: Some("refund".into()),
            ..options()
        };
        let refunds =
            import_file(&store, &fixture("refunds.csv"), &refund_options, |_| {}).expect("refunds");
        // Row 3 has a reason but no 退款说明; whether that is enough is validation's call.
        assert_eq!(
            refunds.stored + refunds.invalid.len() as u64,
            4,
            "{refunds:?}"
        );
        assert!(
            refunds.invalid.iter().all(|(row, _)| *row == 3),
            "{refunds:?}"
        );
        let report = import_file(
            &store,
            &fixture("call_20261121_0931.srt"),
            &options(),
            |_| {},
        )
        .expect("transcript");
        assert_eq!((report.rows_read, report.stored), (1, 1), "{report:?}");
        let call = store.get(3 + refunds.stored as i64 + 1).expect("get");
        assert!(
            call.is_some_and(|call| call.item.segments.len() == 5),
            "the transcript is stored with its segments"
        );
        let again = import_file(
            &store,
            &fixture("call_20261121_0931.srt"),
            &options(),
            |_| {},
        )
        .expect("again");
        assert_eq!((again.stored, again.rows_skipped_as_done), (0, 1));
    }

    #[test]
    fn a_file_that_is_not_a_workbook_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fake.xlsx");
        std::fs::write(&path, "评价内容\n好\n").expect("write");
        assert!(matches!(
            read_rows(&path, &options()),
            Err(ImportError::Workbook { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_csv_never_panics(body in "\\PC{0,300}") {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open(&dir.path().join("data"), false).expect("store");
            let path = dir.path().join("x.csv");
            std::fs::write(&path, format!("评价内容,评分,追评时间,退款原因\n{body}")).expect("write");
            let _ = import_file(&store, &path, &options(), |_| {});
        }

        #[test]
        fn arbitrary_transcript_files_never_panic(
            body in "(\\PC|-->|[0-9:,.]{1,12}|\\n|客服：){0,40}",
            extension in "(srt|vtt|json)",
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join(format!("x.{extension}"));
            std::fs::write(&path, &body).expect("write");
            if let Ok(rows) = read_rows(&path, &options()) {
                for row in rows {
                    let _ = row.map(|item| complete(item, &options()));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Arbitrary bytes under every importable extension (invalid UTF-8 in
        /// a CSV, a truncated or corrupt zip as a workbook, garbage JSON
        /// lines): rows that validate or name their error, or a clean error
        /// for the file; never a panic.
        #[test]
        fn arbitrary_bytes_in_any_format_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            extension in "(csv|jsonl|json|xlsx|xls|ods|srt|vtt|txt)",
            zip_magic in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join(format!("x.{extension}"));
            // Half the workbooks start like a real zip archive, so the
            // reader gets past the signature into the broken directory.
            let mut body = if zip_magic { b"PK\x03\x04".to_vec() } else { Vec::new() };
            body.extend_from_slice(&bytes);
            std::fs::write(&path, &body).expect("write");
            if let Ok(rows) = read_rows(&path, &options()) {
                for row in rows.take(50) {
                    if let Ok(item) = row {
                        let item = complete(item, &options());
                        let _ = validate::validate_item(0, &item, &options().limits, 0);
                    }
                }
            }
        }

        /// A CSV with a known header and rows of hostile cells: quotes,
        /// formulas, ragged rows, control characters, huge ratings and dates.
        #[test]
        fn hostile_csv_cells_never_panic(
            rows in proptest::collection::vec(
                proptest::collection::vec(
                    "(\\PC|[\\x00-\\x1f\\u{200b}\\u{feff}\\u{202e}\"=★]|9{20}|-?[0-9]{1,4}(\\.[0-9]{1,3})?[星分]?|[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}( [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?)?){0,12}",
                    0..6,
                ),
                0..8,
            ),
        ) {
            let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
            writer.write_record(["评价内容", "评分", "评价时间", "订单号", "追评内容", "追评时间"]).expect("header");
            for row in &rows {
                let _ = writer.write_record(row);
            }
            let body = writer.into_inner().expect("csv");
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("x.csv");
            std::fs::write(&path, &body).expect("write");
            let rows_read = read_rows(&path, &options()).expect("a CSV with a header").count();
            prop_assert!(rows_read <= rows.len());
            for row in read_rows(&path, &options()).expect("a CSV with a header") {
                if let Ok(item) = row {
                    let item = complete(item, &options());
                    prop_assert!(item["external_id"].is_string());
                    if let Ok(accepted) = validate::validate_item(0, &item, &options().limits, 0) {
                        prop_assert!(accepted.rating.is_none_or(|rating| (1..=5).contains(&rating)));
                    }
                }
            }
        }
    }
}
