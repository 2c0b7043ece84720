//! Board definitions: `<dashboards_dir>/boards/*.toml` (or `*.json`), one
//! board per file, editable without recompiling and read once at start.
//!
//! A file is read as a plain table first and checked key by key, so that
//! every error names the file and the field (`widgets[2].options.limit`)
//! instead of a line in a serde message. After [`BoardSet::load`]:
//! - board ids are unique and URL-safe, widget ids unique within a board;
//! - every widget type is known and its options are typed, in range, and
//!   resolved (defaults filled in, so the API shows what is used);
//! - every tag and library id in a definition exists in the lexicon, and a
//!   library board only names tags of its library.
//!
//! A bad file stops the service at start: a board that silently lost a
//! widget would show a manager wrong numbers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::nlp::lexicon::TagDefinition;

pub const WIDGET_TYPES: [&str; 12] = [
    "kpi_tiles",
    "trend",
    "tag_ranking",
    "rising_issues",
    "split",
    "heatmap",
    "keywords",
    "praise_complaint",
    "refund_reasons",
    "followup_stats",
    "followup_queue",
    "alerts",
];

pub const GRID_COLUMNS: i64 = 12;
pub const DEFAULT_REFRESH_SECONDS: i64 = 60;
/// Boards without an `order` are listed after those with one, by id.
const DEFAULT_ORDER: i64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("board directory {path}: {message}")]
    Directory { path: PathBuf, message: String },
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalText {
    pub zh: String,
    pub en: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardDefinition {
    pub id: String,
    pub title: LocalText,
    pub description: LocalText,
    /// When set, every widget counts only this library's tags, and counts
    /// only items with a mention of it.
    pub library: Option<String>,
    /// How often a UI should reload the board's data.
    pub refresh_seconds: u32,
    #[serde(skip)]
    pub order: i64,
    pub widgets: Vec<WidgetDefinition>,
}

/// A board as `GET /api/v1/boards` lists it: no widgets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardListing<'a> {
    pub id: &'a str,
    pub title: &'a LocalText,
    pub description: &'a LocalText,
    pub library: Option<&'a str>,
    pub refresh_seconds: u32,
}

impl BoardDefinition {
    pub fn listing(&self) -> BoardListing<'_> {
        BoardListing {
            id: &self.id,
            title: &self.title,
            description: &self.description,
            library: self.library.as_deref(),
            refresh_seconds: self.refresh_seconds,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WidgetDefinition {
    pub id: String,
    #[serde(flatten)]
    pub kind: WidgetKind,
    pub title: LocalText,
    /// Columns of the 12-column grid.
    pub width: u8,
}

/// A widget's type with its resolved options (serialised flat next to
/// `"type"`, as the UI reads them).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WidgetKind {
    KpiTiles(KpiTilesOptions),
    Trend(TrendOptions),
    TagRanking(TagRankingOptions),
    RisingIssues(RisingIssuesOptions),
    Split(SplitOptions),
    Heatmap(HeatmapOptions),
    Keywords(KeywordsOptions),
    PraiseComplaint(PraiseComplaintOptions),
    RefundReasons(RefundReasonsOptions),
    FollowupStats(FollowupStatsOptions),
    FollowupQueue(FollowupQueueOptions),
    Alerts(AlertsOptions),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KpiTilesOptions {
    /// Libraries that get a satisfaction tile. Empty in the file: the
    /// board's library, else every library of the lexicon.
    pub libraries: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrendOptions {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TagRankingOptions {
    pub limit: usize,
}

impl Default for TagRankingOptions {
    fn default() -> Self {
        TagRankingOptions { limit: 10 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RisingIssuesOptions {
    /// Tags with fewer negative mentions in the period are noise, not issues.
    pub min_count: u64,
    pub limit: usize,
}

impl Default for RisingIssuesOptions {
    fn default() -> Self {
        RisingIssuesOptions {
            min_count: 5,
            limit: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitBy {
    #[default]
    Source,
    Channel,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitOptions {
    pub by: SplitBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeatmapDimension {
    #[default]
    Sku,
    Category,
    ProductName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeatmapOptions {
    pub dimension: HeatmapDimension,
    /// Most rows (SKUs, categories, products), by negative mentions.
    pub rows: usize,
    /// Most columns (tags), by negative mentions.
    pub columns: usize,
}

impl Default for HeatmapOptions {
    fn default() -> Self {
        HeatmapOptions {
            dimension: HeatmapDimension::Sku,
            rows: 15,
            columns: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeywordsOptions {
    pub limit: usize,
}

impl Default for KeywordsOptions {
    fn default() -> Self {
        KeywordsOptions { limit: 20 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PraiseComplaintOptions {
    /// Tags shown, in this order. Empty: the most mentioned tags (of the
    /// board's library when it has one), up to `limit`.
    pub tags: Vec<String>,
    pub limit: usize,
}

impl Default for PraiseComplaintOptions {
    fn default() -> Self {
        PraiseComplaintOptions {
            tags: Vec::new(),
            limit: 12,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefundReasonsOptions {
    pub limit: usize,
}

impl Default for RefundReasonsOptions {
    fn default() -> Self {
        RefundReasonsOptions { limit: 10 }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FollowupStatsOptions {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FollowupQueueOptions {
    pub limit: usize,
}

impl Default for FollowupQueueOptions {
    fn default() -> Self {
        FollowupQueueOptions { limit: 10 }
    }
}

/// The newest alerts fired in the board's period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsOptions {
    pub limit: usize,
}

impl Default for AlertsOptions {
    fn default() -> Self {
        AlertsOptions { limit: 10 }
    }
}

/// Every board of the dashboards directory, validated, in listing order.
#[derive(Debug, Clone, Default)]
pub struct BoardSet {
    boards: Vec<BoardDefinition>,
}

impl BoardSet {
    /// Reads `<dashboards_dir>/boards/*.toml` and `*.json`.
    pub fn load(
        dashboards_dir: &Path,
        tags: &[TagDefinition],
    ) -> Result<BoardSet, DefinitionError> {
        let boards_dir = dashboards_dir.join("boards");
        let directory_error = |message: String| DefinitionError::Directory {
            path: boards_dir.clone(),
            message,
        };
        let entries = std::fs::read_dir(&boards_dir).map_err(|error| {
            directory_error(format!(
                "{error} (set dashboards_dir or XINSHENG_DASHBOARDS_DIR to the directory that holds boards/)"
            ))
        })?;
        let mut paths: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|error| directory_error(error.to_string()))?
                .path();
            let extension = path.extension().and_then(|extension| extension.to_str());
            if matches!(extension, Some("toml" | "json")) {
                paths.push(path);
            }
        }
        paths.sort();
        let mut boards: Vec<BoardDefinition> = Vec::with_capacity(paths.len());
        for path in paths {
            let text =
                std::fs::read_to_string(&path).map_err(|error| DefinitionError::Invalid {
                    path: path.clone(),
                    field: "file".into(),
                    message: error.to_string(),
                })?;
            let board = parse_board(&path, &text, tags)?;
            if let Some(earlier) = boards.iter().find(|earlier| earlier.id == board.id) {
                return Err(DefinitionError::Invalid {
                    path,
                    field: "id".into(),
                    message: format!(
                        "board id {:?} is already used by board \"{}\"",
                        board.id, earlier.title.en
                    ),
                });
            }
            boards.push(board);
        }
        boards.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.id.cmp(&b.id)));
        Ok(BoardSet { boards })
    }

    pub fn from_boards(mut boards: Vec<BoardDefinition>) -> BoardSet {
        boards.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.id.cmp(&b.id)));
        BoardSet { boards }
    }

    pub fn all(&self) -> &[BoardDefinition] {
        &self.boards
    }

    pub fn get(&self, id: &str) -> Option<&BoardDefinition> {
        self.boards.iter().find(|board| board.id == id)
    }
}

/// Parses and validates one board file (`.json` by extension, else TOML).
pub fn parse_board(
    path: &Path,
    text: &str,
    tags: &[TagDefinition],
) -> Result<BoardDefinition, DefinitionError> {
    let invalid = |field: &str, message: String| DefinitionError::Invalid {
        path: path.to_path_buf(),
        field: field.to_string(),
        message,
    };
    let table: toml::Table = if path
        .extension()
        .is_some_and(|extension| extension == "json")
    {
        serde_json::from_str(text).map_err(|error| {
            invalid(
                &format!("line {}", error.line()),
                format!("not a JSON object of a board: {error}"),
            )
        })?
    } else {
        toml::from_str(text).map_err(|error| {
            let line = error.span().map_or(1, |span| {
                text.get(..span.start)
                    .map_or(1, |before| before.lines().count().max(1))
            });
            invalid(&format!("line {line}"), error.message().trim().to_string())
        })?
    };
    let checker = Checker {
        path,
        known_tags: tags,
    };
    checker.board(&table)
}

struct Checker<'a> {
    path: &'a Path,
    known_tags: &'a [TagDefinition],
}

impl Checker<'_> {
    fn invalid(&self, field: &str, message: impl Into<String>) -> DefinitionError {
        DefinitionError::Invalid {
            path: self.path.to_path_buf(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    fn only_keys(
        &self,
        table: &toml::Table,
        prefix: &str,
        allowed: &[&str],
    ) -> Result<(), DefinitionError> {
        for key in table.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(self.invalid(
                    &join(prefix, key),
                    format!("unknown field; expected one of {}", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn string(
        &self,
        table: &toml::Table,
        prefix: &str,
        key: &str,
    ) -> Result<Option<String>, DefinitionError> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(value)) if !value.trim().is_empty() => {
                Ok(Some(value.trim().to_string()))
            }
            Some(toml::Value::String(_)) => {
                Err(self.invalid(&join(prefix, key), "must not be empty"))
            }
            Some(other) => Err(self.invalid(
                &join(prefix, key),
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    }

    fn required_string(
        &self,
        table: &toml::Table,
        prefix: &str,
        key: &str,
    ) -> Result<String, DefinitionError> {
        self.string(table, prefix, key)?
            .ok_or_else(|| self.invalid(&join(prefix, key), "missing field"))
    }

    fn integer(
        &self,
        table: &toml::Table,
        prefix: &str,
        key: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, DefinitionError> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(value)) if (min..=max).contains(value) => Ok(Some(*value)),
            Some(_) => Err(self.invalid(
                &join(prefix, key),
                format!("expected an integer from {min} to {max}"),
            )),
        }
    }

    fn local_text(
        &self,
        table: &toml::Table,
        prefix: &str,
        key: &str,
    ) -> Result<LocalText, DefinitionError> {
        let field = join(prefix, key);
        let Some(value) = table.get(key) else {
            return Err(self.invalid(&field, "missing field (a table with zh and en)"));
        };
        let Some(text) = value.as_table() else {
            return Err(self.invalid(
                &field,
                "expected a table with zh and en, e.g. { zh = \"物流\", en = \"Logistics\" }",
            ));
        };
        self.only_keys(text, &field, &["zh", "en"])?;
        Ok(LocalText {
            zh: self.required_string(text, &field, "zh")?,
            en: self.required_string(text, &field, "en")?,
        })
    }

    fn identifier(&self, field: &str, value: &str) -> Result<(), DefinitionError> {
        let valid = value.len() <= 64
            && value
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-');
        if valid {
            Ok(())
        } else {
            Err(self.invalid(
                field,
                format!("{value:?} is not an id: use a-z, 0-9, _ and -, at most 64 characters"),
            ))
        }
    }

    fn libraries(&self) -> BTreeSet<&str> {
        self.known_tags
            .iter()
            .map(|tag| tag.library.as_str())
            .collect()
    }

    fn board(&self, table: &toml::Table) -> Result<BoardDefinition, DefinitionError> {
        self.only_keys(
            table,
            "",
            &[
                "id",
                "title",
                "description",
                "library",
                "order",
                "refresh_seconds",
                "widgets",
            ],
        )?;
        let id = self.required_string(table, "", "id")?;
        self.identifier("id", &id)?;
        let library = self.string(table, "", "library")?;
        if let Some(library) = &library {
            let libraries = self.libraries();
            if !libraries.contains(library.as_str()) {
                return Err(self.invalid(
                    "library",
                    format!(
                        "unknown library {library:?}; expected one of {}",
                        libraries.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        let Some(widget_values) = table.get("widgets") else {
            return Err(self.invalid("widgets", "missing field (at least one [[widgets]] table)"));
        };
        let Some(widget_values) = widget_values
            .as_array()
            .filter(|widgets| !widgets.is_empty())
        else {
            return Err(self.invalid("widgets", "expected at least one [[widgets]] table"));
        };
        let mut widgets: Vec<WidgetDefinition> = Vec::with_capacity(widget_values.len());
        for (position, value) in widget_values.iter().enumerate() {
            let prefix = format!("widgets[{position}]");
            let Some(widget_table) = value.as_table() else {
                return Err(self.invalid(&prefix, "expected a table"));
            };
            let widget = self.widget(widget_table, &prefix, library.as_deref())?;
            if widgets.iter().any(|earlier| earlier.id == widget.id) {
                return Err(self.invalid(
                    &format!("{prefix}.id"),
                    format!("widget id {:?} is used twice in this board", widget.id),
                ));
            }
            widgets.push(widget);
        }
        Ok(BoardDefinition {
            title: self.local_text(table, "", "title")?,
            description: self.local_text(table, "", "description")?,
            order: self
                .integer(table, "", "order", -1_000_000, 1_000_000)?
                .unwrap_or(DEFAULT_ORDER),
            refresh_seconds: self
                .integer(table, "", "refresh_seconds", 5, 86_400)?
                .unwrap_or(DEFAULT_REFRESH_SECONDS) as u32,
            id,
            library,
            widgets,
        })
    }

    fn widget(
        &self,
        table: &toml::Table,
        prefix: &str,
        board_library: Option<&str>,
    ) -> Result<WidgetDefinition, DefinitionError> {
        self.only_keys(table, prefix, &["id", "type", "title", "width", "options"])?;
        let id = self.required_string(table, prefix, "id")?;
        self.identifier(&join(prefix, "id"), &id)?;
        let widget_type = self.required_string(table, prefix, "type")?;
        let options_field = join(prefix, "options");
        let empty = toml::Table::new();
        let options = match table.get("options") {
            None => &empty,
            Some(toml::Value::Table(options)) => options,
            Some(_) => return Err(self.invalid(&options_field, "expected a table")),
        };
        let kind = match widget_type.as_str() {
            "kpi_tiles" => {
                let mut parsed: KpiTilesOptions = self.options(options, &options_field)?;
                for (position, library) in parsed.libraries.iter().enumerate() {
                    self.library_in_board(
                        &format!("{options_field}.libraries[{position}]"),
                        library,
                        board_library,
                    )?;
                }
                if parsed.libraries.is_empty() {
                    parsed.libraries = match board_library {
                        Some(library) => vec![library.to_string()],
                        None => self.libraries().into_iter().map(str::to_string).collect(),
                    };
                }
                WidgetKind::KpiTiles(parsed)
            }
            "trend" => WidgetKind::Trend(self.options(options, &options_field)?),
            "tag_ranking" => {
                let parsed: TagRankingOptions = self.options(options, &options_field)?;
                self.within(&options_field, "limit", parsed.limit, 1, 50)?;
                WidgetKind::TagRanking(parsed)
            }
            "rising_issues" => {
                let parsed: RisingIssuesOptions = self.options(options, &options_field)?;
                self.within(
                    &options_field,
                    "min_count",
                    parsed.min_count as usize,
                    1,
                    1_000_000,
                )?;
                self.within(&options_field, "limit", parsed.limit, 1, 50)?;
                WidgetKind::RisingIssues(parsed)
            }
            "split" => WidgetKind::Split(self.options(options, &options_field)?),
            "heatmap" => {
                let parsed: HeatmapOptions = self.options(options, &options_field)?;
                self.within(&options_field, "rows", parsed.rows, 1, 50)?;
                self.within(&options_field, "columns", parsed.columns, 1, 30)?;
                WidgetKind::Heatmap(parsed)
            }
            "keywords" => {
                let parsed: KeywordsOptions = self.options(options, &options_field)?;
                self.within(&options_field, "limit", parsed.limit, 1, 100)?;
                WidgetKind::Keywords(parsed)
            }
            "praise_complaint" => {
                let parsed: PraiseComplaintOptions = self.options(options, &options_field)?;
                for (position, tag) in parsed.tags.iter().enumerate() {
                    self.tag_in_board(
                        &format!("{options_field}.tags[{position}]"),
                        tag,
                        board_library,
                    )?;
                }
                self.within(&options_field, "limit", parsed.limit, 1, 50)?;
                WidgetKind::PraiseComplaint(parsed)
            }
            "refund_reasons" => {
                let parsed: RefundReasonsOptions = self.options(options, &options_field)?;
                self.within(&options_field, "limit", parsed.limit, 1, 50)?;
                WidgetKind::RefundReasons(parsed)
            }
            "followup_stats" => WidgetKind::FollowupStats(self.options(options, &options_field)?),
            "followup_queue" => {
                let parsed: FollowupQueueOptions = self.options(options, &options_field)?;
                self.within(&options_field, "limit", parsed.limit, 1, 100)?;
                WidgetKind::FollowupQueue(parsed)
            }
            "alerts" => {
                let parsed: AlertsOptions = self.options(options, &options_field)?;
                self.within(&options_field, "limit", parsed.limit, 1, 50)?;
                WidgetKind::Alerts(parsed)
            }
            unknown => {
                return Err(self.invalid(
                    &join(prefix, "type"),
                    format!(
                        "unknown widget type {unknown:?}; expected one of {}",
                        WIDGET_TYPES.join(", ")
                    ),
                ))
            }
        };
        Ok(WidgetDefinition {
            title: self.local_text(table, prefix, "title")?,
            width: self
                .integer(table, prefix, "width", 1, GRID_COLUMNS)?
                .unwrap_or(GRID_COLUMNS) as u8,
            id,
            kind,
        })
    }

    /// Typed options. On a serde error, each key is tried alone to find the
    /// one at fault (every option has a default, so one key alone is valid
    /// unless that key is the problem).
    fn options<T: DeserializeOwned>(
        &self,
        options: &toml::Table,
        field: &str,
    ) -> Result<T, DefinitionError> {
        let error = match T::deserialize(toml::Value::Table(options.clone())) {
            Ok(parsed) => return Ok(parsed),
            Err(error) => error,
        };
        let message = error.message().trim().to_string();
        if let Some(unknown) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
        {
            return Err(self.invalid(&join(field, unknown), message.clone()));
        }
        for (key, value) in options {
            let mut alone = toml::Table::new();
            alone.insert(key.clone(), value.clone());
            if let Err(key_error) = T::deserialize(toml::Value::Table(alone)) {
                return Err(self.invalid(&join(field, key), key_error.message().trim().to_string()));
            }
        }
        Err(self.invalid(field, message))
    }

    fn within(
        &self,
        field: &str,
        key: &str,
        value: usize,
        min: usize,
        max: usize,
    ) -> Result<(), DefinitionError> {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(self.invalid(
                &join(field, key),
                format!("{value} is out of range; expected {min} to {max}"),
            ))
        }
    }

    fn tag_in_board(
        &self,
        field: &str,
        tag: &str,
        board_library: Option<&str>,
    ) -> Result<(), DefinitionError> {
        let Some(definition) = self.known_tags.iter().find(|known| known.id == tag) else {
            return Err(self.invalid(
                field,
                format!("unknown tag id {tag:?}; see GET /api/v1/tags or lexicons/tags/"),
            ));
        };
        match board_library {
            Some(library) if definition.library != library => Err(self.invalid(
                field,
                format!("tag {tag:?} is not in this board's library {library:?}"),
            )),
            _ => Ok(()),
        }
    }

    fn library_in_board(
        &self,
        field: &str,
        library: &str,
        board_library: Option<&str>,
    ) -> Result<(), DefinitionError> {
        let libraries = self.libraries();
        if !libraries.contains(library) {
            return Err(self.invalid(
                field,
                format!(
                    "unknown library {library:?}; expected one of {}",
                    libraries.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        match board_library {
            Some(board_library) if board_library != library => Err(self.invalid(
                field,
                format!("library {library:?} is not this board's library {board_library:?}"),
            )),
            _ => Ok(()),
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags() -> Vec<TagDefinition> {
        [
            "product.material",
            "product.size_fit",
            "logistics.speed",
            "service.attitude",
        ]
        .into_iter()
        .map(|id| TagDefinition {
            id: id.to_string(),
            library: crate::feedback::library_of(id).to_string(),
            name: id.to_string(),
            description: None,
        })
        .collect()
    }

    const VALID: &str = r#"
id = "product"
order = 2
title = { zh = "商品洞察", en = "Product insight" }
description = { zh = "按商品看问题", en = "Issues by product" }

[[widgets]]
id = "kpis"
type = "kpi_tiles"
title = { zh = "概览", en = "Overview" }

[[widgets]]
id = "praise"
type = "praise_complaint"
title = { zh = "好评与差评", en = "Praise and complaints" }
width = 6
options = { tags = ["product.material", "product.size_fit"] }

[[widgets]]
id = "heat"
type = "heatmap"
title = { zh = "问题热力图", en = "Issue heat map" }
width = 6
options = { dimension = "category", rows = 8 }
"#;

    fn parse(text: &str) -> Result<BoardDefinition, DefinitionError> {
        parse_board(Path::new("dashboards/boards/product.toml"), text, &tags())
    }

    fn error_of(text: &str) -> String {
        parse(text).expect_err("must be refused").to_string()
    }

    #[test]
    fn a_valid_board_is_resolved_with_defaults() {
        let board = parse(VALID).expect("valid");
        assert_eq!(board.id, "product");
        assert_eq!(board.order, 2);
        assert_eq!(board.refresh_seconds, 60);
        assert_eq!(board.widgets.len(), 3);
        assert_eq!(board.widgets[0].width, 12);
        assert_eq!(
            board.widgets[0].kind,
            WidgetKind::KpiTiles(KpiTilesOptions {
                libraries: vec!["logistics".into(), "product".into(), "service".into()]
            }),
            "no libraries given: every library of the lexicon"
        );
        assert_eq!(
            board.widgets[2].kind,
            WidgetKind::Heatmap(HeatmapOptions {
                dimension: HeatmapDimension::Category,
                rows: 8,
                columns: 10
            })
        );
        let json = serde_json::to_value(&board.widgets[2]).expect("json");
        assert_eq!(json["type"], "heatmap");
        assert_eq!(json["dimension"], "category");
        assert_eq!(json["width"], 6);
        assert!(json.get("order").is_none());
    }

    #[test]
    fn an_unknown_widget_type_names_file_field_and_choices() {
        let text = VALID.replace("type = \"heatmap\"", "type = \"heatmapp\"");
        let message = error_of(&text);
        assert!(
            message.starts_with(
                "dashboards/boards/product.toml: widgets[2].type: unknown widget type \"heatmapp\"; expected one of kpi_tiles,"
            ),
            "{message}"
        );
    }

    #[test]
    fn unknown_tag_and_library_ids_are_refused() {
        let text = VALID.replace("\"product.size_fit\"]", "\"product.sizefit\"]");
        assert!(
            error_of(&text)
                .contains("widgets[1].options.tags[1]: unknown tag id \"product.sizefit\""),
            "{}",
            error_of(&text)
        );
        let text = VALID.replace(
            "id = \"product\"",
            "id = \"product\"\nlibrary = \"warehouse\"",
        );
        assert!(
            error_of(&text).contains(": library: unknown library \"warehouse\""),
            "{}",
            error_of(&text)
        );
        let text = VALID.replace(
            "type = \"kpi_tiles\"",
            "type = \"kpi_tiles\"\noptions = { libraries = [\"product\", \"finance\"] }",
        );
        assert!(
            error_of(&text)
                .contains("widgets[0].options.libraries[1]: unknown library \"finance\""),
            "{}",
            error_of(&text)
        );
    }

    #[test]
    fn a_library_board_only_names_tags_of_its_library() {
        let text = VALID.replace(
            "id = \"product\"",
            "id = \"product\"\nlibrary = \"logistics\"",
        );
        assert!(
            error_of(&text).contains("widgets[1].options.tags[0]: tag \"product.material\" is not in this board's library \"logistics\""),
            "{}",
            error_of(&text)
        );
    }

    #[test]
    fn options_errors_name_the_option() {
        let text = VALID.replace("rows = 8", "rowz = 8");
        assert!(
            error_of(&text).contains("widgets[2].options.rowz: unknown field `rowz`"),
            "{}",
            error_of(&text)
        );
        let text = VALID.replace("rows = 8", "rows = \"eight\"");
        assert!(
            error_of(&text).contains("widgets[2].options.rows: invalid type"),
            "{}",
            error_of(&text)
        );
        let text = VALID.replace("rows = 8", "rows = 80");
        assert!(
            error_of(&text).contains("widgets[2].options.rows: 80 is out of range"),
            "{}",
            error_of(&text)
        );
        let text = VALID.replace("dimension = \"category\"", "dimension = \"colour\"");
        assert!(
            error_of(&text).contains("widgets[2].options.dimension: unknown variant `colour`"),
            "{}",
            error_of(&text)
        );
    }

    #[test]
    fn board_and_widget_fields_are_checked() {
        assert!(error_of(&VALID.replace("order = 2", "ordre = 2"))
            .contains("product.toml: ordre: unknown field"));
        assert!(error_of(&VALID.replace(
            "width = 6\noptions = { tags",
            "width = 13\noptions = { tags"
        ))
        .contains("widgets[1].width: expected an integer from 1 to 12"));
        assert!(error_of(&VALID.replace(
            "title = { zh = \"概览\", en = \"Overview\" }",
            "title = \"概览\""
        ))
        .contains("widgets[0].title: expected a table with zh and en"));
        assert!(error_of(&VALID.replace("id = \"heat\"", "id = \"kpis\""))
            .contains("widgets[2].id: widget id \"kpis\" is used twice"));
        assert!(
            error_of(&VALID.replace("id = \"product\"", "id = \"Product Board\""))
                .contains(": id: \"Product Board\" is not an id")
        );
        assert!(
            error_of("id = \"x\"\ntitle = ").contains("product.toml: line 2: "),
            "{}",
            error_of("id = \"x\"\ntitle = ")
        );
        let no_widgets = "id = \"x\"\ntitle = { zh = \"a\", en = \"a\" }\ndescription = { zh = \"a\", en = \"a\" }\n";
        assert!(error_of(no_widgets).contains(": widgets: missing field"));
    }

    #[test]
    fn json_boards_are_read_too() {
        let json = r#"{"id": "mini", "title": {"zh": "小", "en": "Mini"}, "description": {"zh": "小", "en": "Mini"},
                       "widgets": [{"id": "split", "type": "split", "title": {"zh": "渠道", "en": "Channels"}, "options": {"by": "channel"}}]}"#;
        let board = parse_board(Path::new("boards/mini.json"), json, &tags()).expect("valid");
        assert_eq!(
            board.widgets[0].kind,
            WidgetKind::Split(SplitOptions {
                by: SplitBy::Channel
            })
        );
    }

    #[test]
    fn the_shipped_boards_load_against_the_shipped_lexicon() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let lexicon = crate::nlp::lexicon::Lexicon::load(&root.join("lexicons")).expect("lexicon");
        let set = BoardSet::load(&root.join("dashboards"), &lexicon.tags)
            .expect("shipped boards are valid");
        let ids: Vec<&str> = set.all().iter().map(|board| board.id.as_str()).collect();
        assert_eq!(
            ids,
            ["issues", "product", "logistics", "service", "followups"]
        );
        assert_eq!(
            set.get("logistics")
                .and_then(|board| board.library.as_deref()),
            Some("logistics")
        );
    }

    #[test]
    fn duplicate_board_ids_across_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let boards = dir.path().join("boards");
        std::fs::create_dir(&boards).expect("mkdir");
        std::fs::write(boards.join("a.toml"), VALID).expect("write");
        std::fs::write(boards.join("b.toml"), VALID).expect("write");
        let message = BoardSet::load(dir.path(), &tags())
            .expect_err("duplicate")
            .to_string();
        assert!(
            message.contains("b.toml: id: board id \"product\" is already used"),
            "{message}"
        );
        std::fs::remove_file(boards.join("b.toml")).expect("rm");
        let set = BoardSet::load(dir.path(), &tags()).expect("one board");
        assert_eq!(set.all().len(), 1);
        assert!(set.get("product").is_some());
        let missing =
            BoardSet::load(&dir.path().join("nowhere"), &tags()).expect_err("missing dir");
        assert!(missing.to_string().contains("nowhere/boards"), "{missing}");
    }
}
