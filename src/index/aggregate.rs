//! Counting over matching documents in one pass: facet counts for search,
//! and everything a board needs (totals, pair counts, time series, for the
//! current and the previous period at once).
//!
//! A custom collector over fast fields rather than tantivy's JSON
//! aggregation API: one pass gives every count a board needs, counts are
//! exact, and the result is typed. Per segment we count term ordinals in
//! flat vectors (pairs of ordinals in a map) and only turn ordinals into
//! strings once, at harvest, in dictionary order.
//!
//! Invariants:
//! - a document is counted in at most one [`Window`] (windows are meant to
//!   be disjoint; the first that contains the document's `created_at` wins);
//! - nothing is allocated per document: ordinals are read into scratch
//!   buffers that live as long as the segment collector.

use std::collections::{BTreeMap, HashMap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::schema;

pub type TermCounts = BTreeMap<String, u64>;

#[derive(Debug, Clone)]
pub struct SeriesSpec {
    /// Unix seconds of the first bucket's start.
    pub start: i64,
    pub bucket_seconds: i64,
    pub buckets: usize,
    pub fields: Vec<&'static str>,
}

/// Which terms of a field take part in a pair count. Deciding this once per
/// segment on the dictionary keeps the per-document loop to ordinal lookups.
#[derive(Debug, Clone, PartialEq)]
pub enum TermFilter {
    Any,
    Exactly(String),
    /// Terms that start with `prefix` and end with `suffix` (either may be empty).
    Affixes {
        prefix: String,
        suffix: String,
    },
}

impl TermFilter {
    pub fn matches(&self, term: &str) -> bool {
        match self {
            TermFilter::Any => true,
            TermFilter::Exactly(exact) => term == exact,
            TermFilter::Affixes { prefix, suffix } => {
                term.len() >= prefix.len() + suffix.len()
                    && term.starts_with(prefix.as_str())
                    && term.ends_with(suffix.as_str())
            }
        }
    }
}

/// Co-occurrence counts of two multi-valued fields within one document,
/// e.g. SKU × negative tag mentions, or negative sentiment × keyword.
#[derive(Debug, Clone, PartialEq)]
pub struct PairSpec {
    pub rows: &'static str,
    pub row_terms: TermFilter,
    pub columns: &'static str,
    pub column_terms: TermFilter,
}

/// A time window of `created_at`, `[from, to)`, counted separately.
#[derive(Debug, Clone)]
pub struct Window {
    pub from: i64,
    pub to: i64,
    pub series: Option<SeriesSpec>,
    /// Pair counts are the costly part: only the windows that show them ask.
    pub pairs: Vec<PairSpec>,
}

impl Window {
    /// Every document, including one without a `created_at` (read as `i64::MIN`).
    pub fn unbounded(series: Option<SeriesSpec>) -> Window {
        Window {
            from: i64::MIN,
            to: i64::MAX,
            series,
            pairs: Vec::new(),
        }
    }

    fn contains(&self, created_at: i64) -> bool {
        self.from <= created_at && created_at < self.to
    }
}

/// What to count. The fruit holds one [`Stats`] per window, in order.
#[derive(Debug, Clone)]
pub struct StatsCollector {
    pub count_fields: Vec<&'static str>,
    pub windows: Vec<Window>,
}

impl StatsCollector {
    /// Plain counts over every matching document (search facets).
    pub fn counts(count_fields: Vec<&'static str>) -> StatsCollector {
        StatsCollector {
            count_fields,
            windows: vec![Window::unbounded(None)],
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BucketStats {
    pub docs: u64,
    pub counts: HashMap<&'static str, TermCounts>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub docs: u64,
    pub counts: HashMap<&'static str, TermCounts>,
    /// One entry per [`PairSpec`] of the window, in the order they were asked for.
    pub pairs: Vec<PairCounts>,
    pub series: Vec<BucketStats>,
}

fn count_in(counts: &HashMap<&'static str, TermCounts>, field: &str, term: &str) -> u64 {
    counts
        .get(field)
        .and_then(|terms| terms.get(term))
        .copied()
        .unwrap_or(0)
}

impl Stats {
    pub fn count(&self, field: &str, term: &str) -> u64 {
        count_in(&self.counts, field, term)
    }

    pub fn terms(&self, field: &str) -> impl Iterator<Item = (&String, &u64)> {
        self.counts
            .get(field)
            .into_iter()
            .flat_map(|terms| terms.iter())
    }
}

impl BucketStats {
    pub fn count(&self, field: &str, term: &str) -> u64 {
        count_in(&self.counts, field, term)
    }
}

/// Counts per (row term, column term): the terms of each axis are stored
/// once and cells are keyed by their positions, so merging segments hashes
/// each distinct term once instead of once per cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairCounts {
    rows: Vec<String>,
    row_positions: HashMap<String, u32>,
    columns: Vec<String>,
    column_positions: HashMap<String, u32>,
    cells: HashMap<(u32, u32), u64>,
}

impl PairCounts {
    pub fn get(&self, row: &str, column: &str) -> u64 {
        match (
            self.row_positions.get(row),
            self.column_positions.get(column),
        ) {
            (Some(row), Some(column)) => self.cells.get(&(*row, *column)).copied().unwrap_or(0),
            _ => 0,
        }
    }

    /// `(row term, column term, count)` of every non-zero cell, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.cells.iter().map(|((row, column), count)| {
            (
                self.rows[*row as usize].as_str(),
                self.columns[*column as usize].as_str(),
                *count,
            )
        })
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The position of `term` on an axis, added when new.
    fn intern(terms: &mut Vec<String>, positions: &mut HashMap<String, u32>, term: String) -> u32 {
        if let Some(position) = positions.get(&term) {
            return *position;
        }
        let position = terms.len() as u32;
        positions.insert(term.clone(), position);
        terms.push(term);
        position
    }

    /// Adds a segment's counts. A segment's own counts carry no position
    /// maps (nothing looks them up); the merged counts build them here,
    /// one lookup per distinct term per segment.
    fn merge(&mut self, other: PairCounts) {
        let row_map: Vec<u32> = other
            .rows
            .into_iter()
            .map(|term| Self::intern(&mut self.rows, &mut self.row_positions, term))
            .collect();
        let column_map: Vec<u32> = other
            .columns
            .into_iter()
            .map(|term| Self::intern(&mut self.columns, &mut self.column_positions, term))
            .collect();
        self.cells.reserve(other.cells.len());
        for ((row, column), count) in other.cells {
            *self
                .cells
                .entry((row_map[row as usize], column_map[column as usize]))
                .or_default() += count;
        }
    }
}

/// Dictionaries up to this size are read into a table once per segment:
/// series buckets and pair axes then name their terms without a walk each.
const NAME_TABLE_MAX_TERMS: usize = 4_096;
/// Pair counts use a flat matrix up to this many cells, a map beyond.
const DENSE_PAIR_MAX_CELLS: usize = 1 << 18;
const NOT_SELECTED: u32 = u32::MAX;

/// One string column of a segment, opened once, with a table of its term
/// names when asked for and the dictionary is small.
struct SegmentColumn {
    name: &'static str,
    column: Option<StrColumn>,
    names: Option<Vec<String>>,
}

impl SegmentColumn {
    fn open(name: &'static str, reader: &SegmentReader) -> tantivy::Result<SegmentColumn> {
        Ok(SegmentColumn {
            name,
            column: reader.fast_fields().str(name)?,
            names: None,
        })
    }

    /// Reads the whole dictionary once, if it is small: worth it for series
    /// fields, which name the same few terms in every bucket.
    fn load_names(&mut self) -> tantivy::Result<()> {
        let Some(column) = &self.column else {
            return Ok(());
        };
        if self.names.is_some() || column.num_terms() > NAME_TABLE_MAX_TERMS {
            return Ok(());
        }
        let mut names = Vec::with_capacity(column.num_terms());
        let mut terms = column.dictionary().stream()?;
        while terms.advance() {
            names.push(String::from_utf8_lossy(terms.key()).into_owned());
        }
        self.names = Some(names);
        Ok(())
    }

    fn num_terms(&self) -> usize {
        self.column.as_ref().map_or(0, |column| column.num_terms())
    }

    /// Names of sorted ordinals, from the table or with one dictionary walk.
    fn names_of(&self, sorted_ords: &[u64]) -> tantivy::Result<Vec<String>> {
        if let Some(names) = &self.names {
            return Ok(sorted_ords
                .iter()
                .map(|ord| names.get(*ord as usize).cloned().unwrap_or_default())
                .collect());
        }
        let Some(column) = &self.column else {
            return Ok(Vec::new());
        };
        let mut strings = Vec::with_capacity(sorted_ords.len());
        column
            .dictionary()
            .sorted_ords_to_term_cb(sorted_ords, |bytes| {
                strings.push(String::from_utf8_lossy(bytes).into_owned());
            })?;
        Ok(strings)
    }

    fn term_counts(&self, counts: &[u64]) -> tantivy::Result<TermCounts> {
        let ords: Vec<u64> = (0..counts.len() as u64)
            .filter(|ord| counts[*ord as usize] > 0)
            .collect();
        let names = self.names_of(&ords)?;
        Ok(ords
            .iter()
            .zip(names)
            .map(|(ord, name)| (name, counts[*ord as usize]))
            .collect())
    }
}

/// The distinct columns every window needs, and each one's ordinals for the
/// document being collected (read once, used by totals, buckets and pairs).
struct SegmentColumns {
    columns: Vec<SegmentColumn>,
    ords: Vec<Vec<u64>>,
}

impl SegmentColumns {
    fn position(&mut self, name: &'static str, reader: &SegmentReader) -> tantivy::Result<usize> {
        if let Some(position) = self.columns.iter().position(|column| column.name == name) {
            return Ok(position);
        }
        self.columns.push(SegmentColumn::open(name, reader)?);
        self.ords.push(Vec::new());
        Ok(self.columns.len() - 1)
    }

    fn read(&mut self, positions: &[usize], doc: DocId) {
        for &position in positions {
            let ords = &mut self.ords[position];
            ords.clear();
            if let Some(column) = &self.columns[position].column {
                ords.extend(column.term_ords(doc));
            }
        }
    }
}

/// Maps ordinals of one pair axis to dense positions (or [`NOT_SELECTED`]).
struct AxisSlots {
    /// ordinal → position, for every ordinal of the segment's dictionary.
    slots: Vec<u32>,
    /// position → ordinal.
    ords: Vec<u64>,
}

impl AxisSlots {
    fn open(column: &SegmentColumn, filter: &TermFilter) -> tantivy::Result<AxisSlots> {
        let num_terms = column.num_terms();
        let mut slots = vec![NOT_SELECTED; num_terms];
        let mut ords = Vec::new();
        let mut select = |ord: u64, slots: &mut Vec<u32>| {
            if let Some(slot) = slots.get_mut(ord as usize) {
                *slot = ords.len() as u32;
                ords.push(ord);
            }
        };
        match (filter, &column.column) {
            (_, None) => {}
            (TermFilter::Any, Some(_)) => {
                for ord in 0..num_terms as u64 {
                    select(ord, &mut slots);
                }
            }
            (TermFilter::Exactly(term), Some(str_column)) => {
                if let Some(ord) = str_column.dictionary().term_ord(term)? {
                    select(ord, &mut slots);
                }
            }
            (TermFilter::Affixes { .. }, Some(str_column)) => {
                let mut terms = str_column.dictionary().stream()?;
                while terms.advance() {
                    if std::str::from_utf8(terms.key()).is_ok_and(|term| filter.matches(term)) {
                        select(terms.term_ord(), &mut slots);
                    }
                }
            }
        }
        Ok(AxisSlots { slots, ords })
    }

    fn slot(&self, ord: u64) -> Option<u32> {
        self.slots
            .get(ord as usize)
            .copied()
            .filter(|slot| *slot != NOT_SELECTED)
    }
}

enum PairCells {
    Dense(Vec<u64>),
    Sparse(HashMap<(u32, u32), u64>),
}

struct PairCounter {
    row_column: usize,
    column_column: usize,
    /// Whether an axis's ordinals are already read for every document (it
    /// is also counted); the other axis is read only when this one matched.
    row_eager: bool,
    column_eager: bool,
    rows: AxisSlots,
    columns: AxisSlots,
    cells: PairCells,
    selected_rows: Vec<u32>,
    selected_columns: Vec<u32>,
}

impl PairCounter {
    fn open(
        spec: &PairSpec,
        columns: &mut SegmentColumns,
        eager: &[usize],
        reader: &SegmentReader,
    ) -> tantivy::Result<PairCounter> {
        let row_column = columns.position(spec.rows, reader)?;
        let column_column = columns.position(spec.columns, reader)?;
        let rows = AxisSlots::open(&columns.columns[row_column], &spec.row_terms)?;
        let column_slots = AxisSlots::open(&columns.columns[column_column], &spec.column_terms)?;
        let cells_needed = rows.ords.len().saturating_mul(column_slots.ords.len());
        let cells = if cells_needed <= DENSE_PAIR_MAX_CELLS {
            PairCells::Dense(vec![0; cells_needed])
        } else {
            PairCells::Sparse(HashMap::new())
        };
        Ok(PairCounter {
            row_column,
            column_column,
            row_eager: eager.contains(&row_column),
            column_eager: eager.contains(&column_column),
            rows,
            columns: column_slots,
            cells,
            selected_rows: Vec::new(),
            selected_columns: Vec::new(),
        })
    }

    /// The selected positions of one axis for `doc`, from the shared read
    /// when the axis is eager, else straight from its column.
    fn select(
        axis: &AxisSlots,
        column: usize,
        eager: bool,
        doc: DocId,
        columns: &SegmentColumns,
        selected: &mut Vec<u32>,
    ) {
        selected.clear();
        if eager {
            selected.extend(
                columns.ords[column]
                    .iter()
                    .filter_map(|ord| axis.slot(*ord)),
            );
        } else if let Some(str_column) = &columns.columns[column].column {
            selected.extend(str_column.term_ords(doc).filter_map(|ord| axis.slot(ord)));
        }
    }

    fn count(&mut self, doc: DocId, columns: &SegmentColumns) {
        let rows_first = self.row_eager || !self.column_eager;
        for step in 0..2 {
            let (axis, column, eager, selected) = if (step == 0) == rows_first {
                (
                    &self.rows,
                    self.row_column,
                    self.row_eager,
                    &mut self.selected_rows,
                )
            } else {
                (
                    &self.columns,
                    self.column_column,
                    self.column_eager,
                    &mut self.selected_columns,
                )
            };
            Self::select(axis, column, eager, doc, columns, selected);
            if selected.is_empty() {
                return;
            }
        }
        let width = self.columns.ords.len();
        for row in &self.selected_rows {
            for column in &self.selected_columns {
                match &mut self.cells {
                    PairCells::Dense(cells) => cells[*row as usize * width + *column as usize] += 1,
                    PairCells::Sparse(cells) => *cells.entry((*row, *column)).or_default() += 1,
                }
            }
        }
    }

    fn harvest(self, columns: &SegmentColumns) -> tantivy::Result<PairCounts> {
        let width = self.columns.ords.len();
        let cells: Vec<((u32, u32), u64)> = match self.cells {
            PairCells::Dense(cells) => cells
                .into_iter()
                .enumerate()
                .filter(|(_, count)| *count > 0)
                .map(|(index, count)| (((index / width) as u32, (index % width) as u32), count))
                .collect(),
            PairCells::Sparse(cells) => cells.into_iter().collect(),
        };
        // Only the terms that have a cell get a name, each once.
        let name_axis = |slots: &AxisSlots, used: Vec<u32>, column: &SegmentColumn| {
            let mut used = used;
            used.sort_unstable();
            used.dedup();
            // Slots are in ordinal order, so sorted slots give sorted ordinals.
            let ords: Vec<u64> = used.iter().map(|slot| slots.ords[*slot as usize]).collect();
            column.names_of(&ords).map(|names| (used, names))
        };
        let (used_rows, row_names) = name_axis(
            &self.rows,
            cells.iter().map(|((row, _), _)| *row).collect(),
            &columns.columns[self.row_column],
        )?;
        let (used_columns, column_names) = name_axis(
            &self.columns,
            cells.iter().map(|((_, column), _)| *column).collect(),
            &columns.columns[self.column_column],
        )?;
        let position_of = |used: &[u32], slot: u32| used.binary_search(&slot).unwrap_or(0) as u32;
        let mut counts = PairCounts {
            rows: row_names,
            columns: column_names,
            cells: HashMap::with_capacity(cells.len()),
            ..PairCounts::default()
        };
        for ((row, column), count) in cells {
            counts.cells.insert(
                (
                    position_of(&used_rows, row),
                    position_of(&used_columns, column),
                ),
                count,
            );
        }
        Ok(counts)
    }
}

/// Term counts of one field, by ordinal.
struct FieldCounter {
    column: usize,
    counts: Vec<u64>,
}

/// Everything counted for one window in one segment.
struct WindowCounters {
    window: Window,
    /// Columns read for each document of this window (counted fields and
    /// series fields); pair axes beyond these are read on demand.
    reads: Vec<usize>,
    docs: u64,
    fields: Vec<FieldCounter>,
    bucket_docs: Vec<u64>,
    /// Per series field: counts laid out `bucket * num_terms + ord`.
    bucket_fields: Vec<FieldCounter>,
    pairs: Vec<PairCounter>,
}

impl WindowCounters {
    fn open(
        window: &Window,
        count_fields: &[&'static str],
        columns: &mut SegmentColumns,
        reader: &SegmentReader,
    ) -> tantivy::Result<WindowCounters> {
        let mut reads = Vec::new();
        let mut fields = Vec::with_capacity(count_fields.len());
        for name in count_fields {
            let column = columns.position(name, reader)?;
            reads.push(column);
            fields.push(FieldCounter {
                column,
                counts: vec![0; columns.columns[column].num_terms()],
            });
        }
        let mut bucket_docs = Vec::new();
        let mut bucket_fields = Vec::new();
        if let Some(spec) = &window.series {
            bucket_docs = vec![0; spec.buckets];
            for name in &spec.fields {
                let column = columns.position(name, reader)?;
                columns.columns[column].load_names()?;
                reads.push(column);
                bucket_fields.push(FieldCounter {
                    column,
                    counts: vec![0; spec.buckets * columns.columns[column].num_terms()],
                });
            }
        }
        reads.sort_unstable();
        reads.dedup();
        let pairs = window
            .pairs
            .iter()
            .map(|spec| PairCounter::open(spec, columns, &reads, reader))
            .collect::<tantivy::Result<_>>()?;
        Ok(WindowCounters {
            window: window.clone(),
            reads,
            docs: 0,
            fields,
            bucket_docs,
            bucket_fields,
            pairs,
        })
    }

    fn collect(
        &mut self,
        doc: DocId,
        created_at: i64,
        columns: &SegmentColumns,
        terms_per_column: &[usize],
    ) {
        let ords = &columns.ords;
        self.docs += 1;
        for field in &mut self.fields {
            for ord in &ords[field.column] {
                field.counts[*ord as usize] += 1;
            }
        }
        for pair in &mut self.pairs {
            pair.count(doc, columns);
        }
        if let Some(spec) = &self.window.series {
            let offset = created_at.saturating_sub(spec.start);
            if offset < 0 {
                return;
            }
            let bucket = (offset / spec.bucket_seconds) as usize;
            if bucket >= self.bucket_docs.len() {
                return;
            }
            self.bucket_docs[bucket] += 1;
            for field in &mut self.bucket_fields {
                let base = bucket * terms_per_column[field.column];
                for ord in &ords[field.column] {
                    field.counts[base + *ord as usize] += 1;
                }
            }
        }
    }

    fn harvest(self, columns: &SegmentColumns) -> tantivy::Result<Stats> {
        let mut counts = HashMap::new();
        for field in self.fields {
            let column = &columns.columns[field.column];
            counts.insert(column.name, column.term_counts(&field.counts)?);
        }
        let pairs = self
            .pairs
            .into_iter()
            .map(|pair| pair.harvest(columns))
            .collect::<tantivy::Result<_>>()?;
        let mut series: Vec<BucketStats> = self
            .bucket_docs
            .iter()
            .map(|docs| BucketStats {
                docs: *docs,
                counts: HashMap::new(),
            })
            .collect();
        for field in self.bucket_fields {
            let column = &columns.columns[field.column];
            let terms = column.num_terms();
            for (bucket, stats) in series.iter_mut().enumerate() {
                let bucket_counts = &field.counts[bucket * terms..(bucket + 1) * terms];
                stats
                    .counts
                    .insert(column.name, column.term_counts(bucket_counts)?);
            }
        }
        Ok(Stats {
            docs: self.docs,
            counts,
            pairs,
            series,
        })
    }
}

pub struct StatsSegmentCollector {
    windows: Vec<WindowCounters>,
    columns: SegmentColumns,
    terms_per_column: Vec<usize>,
    created_at: Column<i64>,
}

impl Collector for StatsCollector {
    type Fruit = Vec<Stats>;
    type Child = StatsSegmentCollector;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<StatsSegmentCollector> {
        let mut columns = SegmentColumns {
            columns: Vec::new(),
            ords: Vec::new(),
        };
        let windows = self
            .windows
            .iter()
            .map(|window| WindowCounters::open(window, &self.count_fields, &mut columns, reader))
            .collect::<tantivy::Result<_>>()?;
        let terms_per_column = columns
            .columns
            .iter()
            .map(SegmentColumn::num_terms)
            .collect();
        Ok(StatsSegmentCollector {
            windows,
            columns,
            terms_per_column,
            created_at: reader.fast_fields().i64(schema::CREATED_AT)?,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<tantivy::Result<Vec<Stats>>>,
    ) -> tantivy::Result<Vec<Stats>> {
        let mut merged: Vec<Stats> = self
            .windows
            .iter()
            .map(|window| Stats {
                pairs: vec![PairCounts::default(); window.pairs.len()],
                series: vec![
                    BucketStats::default();
                    window.series.as_ref().map_or(0, |spec| spec.buckets)
                ],
                ..Stats::default()
            })
            .collect();
        for fruit in fruits {
            for (target, stats) in merged.iter_mut().zip(fruit?) {
                target.docs += stats.docs;
                merge_counts(&mut target.counts, stats.counts);
                for (target_pairs, pairs) in target.pairs.iter_mut().zip(stats.pairs) {
                    target_pairs.merge(pairs);
                }
                for (target_bucket, bucket) in target.series.iter_mut().zip(stats.series) {
                    target_bucket.docs += bucket.docs;
                    merge_counts(&mut target_bucket.counts, bucket.counts);
                }
            }
        }
        Ok(merged)
    }
}

fn merge_counts(
    into: &mut HashMap<&'static str, TermCounts>,
    from: HashMap<&'static str, TermCounts>,
) {
    for (field, terms) in from {
        let target = into.entry(field).or_default();
        if target.is_empty() {
            *target = terms;
            continue;
        }
        for (term, count) in terms {
            *target.entry(term).or_default() += count;
        }
    }
}

impl SegmentCollector for StatsSegmentCollector {
    // Harvest can fail (dictionary reads); the error travels to merge_fruits.
    type Fruit = tantivy::Result<Vec<Stats>>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let created_at = self.created_at.first(doc).unwrap_or(i64::MIN);
        let Some(window) = self
            .windows
            .iter_mut()
            .find(|counters| counters.window.contains(created_at))
        else {
            return;
        };
        self.columns.read(&window.reads, doc);
        window.collect(doc, created_at, &self.columns, &self.terms_per_column);
    }

    fn harvest(self) -> tantivy::Result<Vec<Stats>> {
        let columns = self.columns;
        self.windows
            .into_iter()
            .map(|window| window.harvest(&columns))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::query::AllQuery;
    use tantivy::schema::{SchemaBuilder, FAST, INDEXED, STRING};
    use tantivy::{Index, TantivyDocument};

    /// `(created_at, a terms, b terms)`.
    type TestDocument = (i64, Vec<String>, Vec<String>);

    /// A RAM index of documents, one segment per batch.
    fn index(batches: &[Vec<TestDocument>]) -> Index {
        let mut builder = SchemaBuilder::new();
        let created_at = builder.add_i64_field(schema::CREATED_AT, INDEXED | FAST);
        let a = builder.add_text_field("a", STRING | FAST);
        let b = builder.add_text_field("b", STRING | FAST);
        let index = Index::create_in_ram(builder.build());
        let mut writer = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        for batch in batches {
            for (at, a_terms, b_terms) in batch {
                let mut document = TantivyDocument::default();
                document.add_i64(created_at, *at);
                for term in a_terms {
                    document.add_text(a, term);
                }
                for term in b_terms {
                    document.add_text(b, term);
                }
                writer.add_document(document).expect("add");
            }
            writer.commit().expect("commit");
        }
        index
    }

    fn terms(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| value.to_string()).collect()
    }

    #[test]
    fn windows_series_and_pairs_are_counted_across_segments() {
        let index = index(&[
            vec![
                (100, terms(&["x"]), terms(&["neg", "p"])),
                (150, terms(&["y"]), terms(&["neg"])),
                (20, terms(&["x"]), terms(&["pos"])),
            ],
            vec![
                (199, terms(&["x", "y"]), terms(&["neg"])),
                (10, terms(&["y"]), terms(&["neg"])),
                (500, terms(&["x"]), terms(&["neg"])),
            ],
        ]);
        let searcher = index.reader().expect("reader").searcher();
        assert_eq!(searcher.segment_readers().len(), 2);
        let negatives = PairSpec {
            rows: "a",
            row_terms: TermFilter::Any,
            columns: "b",
            column_terms: TermFilter::Exactly("neg".into()),
        };
        let collector = StatsCollector {
            count_fields: vec!["a", "b"],
            windows: vec![
                Window {
                    from: 100,
                    to: 200,
                    series: Some(SeriesSpec {
                        start: 100,
                        bucket_seconds: 50,
                        buckets: 2,
                        fields: vec!["b"],
                    }),
                    pairs: vec![negatives],
                },
                Window {
                    from: 0,
                    to: 100,
                    series: None,
                    pairs: Vec::new(),
                },
            ],
        };
        let stats = searcher.search(&AllQuery, &collector).expect("search");
        let (current, previous) = (&stats[0], &stats[1]);
        assert_eq!(current.docs, 3, "100, 150, 199; 500 is in no window");
        assert_eq!(current.count("a", "x"), 2);
        assert_eq!(current.count("a", "y"), 2);
        assert_eq!(current.count("b", "neg"), 3);
        assert_eq!(current.pairs[0].get("x", "neg"), 2);
        assert_eq!(current.pairs[0].get("y", "neg"), 2);
        assert_eq!(current.pairs[0].get("x", "pos"), 0);
        assert_eq!(current.pairs[0].len(), 2);
        assert_eq!(
            current
                .series
                .iter()
                .map(|bucket| bucket.docs)
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(current.series[0].count("b", "p"), 1);
        assert_eq!(current.series[1].count("b", "neg"), 2);
        assert_eq!(previous.docs, 2);
        assert_eq!(previous.count("b", "pos"), 1);
        assert!(previous.pairs.is_empty() && previous.series.is_empty());

        // The same pairs when only one axis is also counted (read on demand).
        for count_fields in [vec!["a"], vec!["b"], Vec::new()] {
            let narrower = StatsCollector {
                count_fields,
                ..collector.clone()
            };
            let stats = searcher.search(&AllQuery, &narrower).expect("search");
            assert_eq!(stats[0].pairs[0], current.pairs[0]);
        }
    }

    #[test]
    fn large_pairs_count_the_same_in_a_map() {
        // 600 × 600 selected terms are more cells than the flat matrix takes.
        let documents: Vec<TestDocument> = (0..600)
            .map(|n| {
                (
                    n,
                    vec![format!("row-{n}")],
                    vec![format!("column-{n}"), "shared".into()],
                )
            })
            .collect();
        let index = index(&[documents]);
        let searcher = index.reader().expect("reader").searcher();
        let collector = StatsCollector {
            count_fields: Vec::new(),
            windows: vec![Window {
                pairs: vec![PairSpec {
                    rows: "a",
                    row_terms: TermFilter::Any,
                    columns: "b",
                    column_terms: TermFilter::Any,
                }],
                ..Window::unbounded(None)
            }],
        };
        let stats = searcher.search(&AllQuery, &collector).expect("search");
        let pairs = &stats[0].pairs[0];
        assert_eq!(pairs.len(), 1_200);
        assert_eq!(pairs.get("row-7", "column-7"), 1);
        assert_eq!(pairs.get("row-7", "column-8"), 0);
        assert_eq!(pairs.get("row-599", "shared"), 1);
    }

    #[test]
    fn merged_pair_counts_add_up_by_term_not_position() {
        let mut first = PairCounts::default();
        let mut second = PairCounts::default();
        for (counts, cells) in [
            (
                &mut first,
                vec![("sku-1", "size:neg", 2), ("sku-2", "size:neg", 1)],
            ),
            (
                &mut second,
                vec![("sku-2", "size:neg", 3), ("sku-1", "fit:neg", 1)],
            ),
        ] {
            for (row, column, count) in cells {
                let row =
                    PairCounts::intern(&mut counts.rows, &mut counts.row_positions, row.into());
                let column = PairCounts::intern(
                    &mut counts.columns,
                    &mut counts.column_positions,
                    column.into(),
                );
                counts.cells.insert((row, column), count);
            }
        }
        let mut merged = PairCounts::default();
        merged.merge(first);
        merged.merge(second);
        let first = merged;
        assert_eq!(first.get("sku-1", "size:neg"), 2);
        assert_eq!(first.get("sku-2", "size:neg"), 4);
        assert_eq!(first.get("sku-1", "fit:neg"), 1);
        assert_eq!(first.iter().map(|(_, _, count)| count).sum::<u64>(), 7);
    }

    #[test]
    fn affix_filters_need_both_ends() {
        let negative_logistics = TermFilter::Affixes {
            prefix: "logistics.".into(),
            suffix: ":neg".into(),
        };
        assert!(negative_logistics.matches("logistics.speed:neg"));
        assert!(!negative_logistics.matches("logistics.speed:pos"));
        assert!(!negative_logistics.matches("product.size_fit:neg"));
        let any_negative = TermFilter::Affixes {
            prefix: String::new(),
            suffix: ":neg".into(),
        };
        assert!(any_negative.matches("service.attitude:neg"));
        assert!(TermFilter::Exactly("neg".into()).matches("neg"));
        assert!(!TermFilter::Exactly("neg".into()).matches("neu"));
    }
}
