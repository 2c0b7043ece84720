//! Counting over matching documents in one pass: facet counts for search,
//! and totals plus time series for boards.
//!
//! A custom collector over fast fields rather than tantivy's JSON
//! aggregation API: one pass gives every count a board needs, counts are
//! exact, and the result is typed. Per segment we count term ordinals in
//! flat vectors and only turn ordinals into strings once, at harvest.

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

#[derive(Debug, Clone)]
pub struct StatsCollector {
    pub count_fields: Vec<&'static str>,
    pub series: Option<SeriesSpec>,
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
}

impl BucketStats {
    pub fn count(&self, field: &str, term: &str) -> u64 {
        count_in(&self.counts, field, term)
    }
}

struct CountedField {
    name: &'static str,
    column: Option<StrColumn>,
    counts: Vec<u64>,
}

impl CountedField {
    fn open(name: &'static str, reader: &SegmentReader) -> tantivy::Result<CountedField> {
        let column = reader.fast_fields().str(name)?;
        let terms = column.as_ref().map_or(0, |column| column.num_terms());
        Ok(CountedField {
            name,
            column,
            counts: vec![0; terms],
        })
    }

    fn count(&mut self, doc: DocId) {
        if let Some(column) = &self.column {
            for ord in column.term_ords(doc) {
                self.counts[ord as usize] += 1;
            }
        }
    }

    fn harvest(self) -> tantivy::Result<(&'static str, TermCounts)> {
        let mut terms = TermCounts::new();
        if let Some(column) = &self.column {
            let mut term = String::new();
            for (ord, count) in self.counts.iter().enumerate() {
                if *count > 0 && column.ord_to_str(ord as u64, &mut term)? {
                    terms.insert(term.clone(), *count);
                }
            }
        }
        Ok((self.name, terms))
    }
}

pub struct StatsSegmentCollector {
    docs: u64,
    fields: Vec<CountedField>,
    created_at: Column<i64>,
    series: Option<(SeriesSpec, Vec<(u64, Vec<CountedField>)>)>,
}

impl Collector for StatsCollector {
    type Fruit = Stats;
    type Child = StatsSegmentCollector;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<StatsSegmentCollector> {
        let fields = self
            .count_fields
            .iter()
            .map(|name| CountedField::open(name, reader))
            .collect::<tantivy::Result<_>>()?;
        let series = match &self.series {
            Some(spec) => {
                let mut buckets = Vec::with_capacity(spec.buckets);
                for _ in 0..spec.buckets {
                    let fields = spec
                        .fields
                        .iter()
                        .map(|name| CountedField::open(name, reader))
                        .collect::<tantivy::Result<_>>()?;
                    buckets.push((0, fields));
                }
                Some((spec.clone(), buckets))
            }
            None => None,
        };
        Ok(StatsSegmentCollector {
            docs: 0,
            fields,
            created_at: reader.fast_fields().i64(schema::CREATED_AT)?,
            series,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<tantivy::Result<Stats>>) -> tantivy::Result<Stats> {
        let mut merged = Stats {
            series: vec![
                BucketStats::default();
                self.series.as_ref().map_or(0, |spec| spec.buckets)
            ],
            ..Stats::default()
        };
        for fruit in fruits {
            let fruit = fruit?;
            merged.docs += fruit.docs;
            merge_counts(&mut merged.counts, fruit.counts);
            for (target, bucket) in merged.series.iter_mut().zip(fruit.series) {
                target.docs += bucket.docs;
                merge_counts(&mut target.counts, bucket.counts);
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
        for (term, count) in terms {
            *target.entry(term).or_default() += count;
        }
    }
}

impl SegmentCollector for StatsSegmentCollector {
    // Harvest can fail (dictionary reads); the error travels to merge_fruits.
    type Fruit = tantivy::Result<Stats>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.docs += 1;
        for field in &mut self.fields {
            field.count(doc);
        }
        if let Some((spec, buckets)) = &mut self.series {
            let Some(created_at) = self.created_at.first(doc) else {
                return;
            };
            let offset = created_at - spec.start;
            if offset < 0 {
                return;
            }
            let bucket = (offset / spec.bucket_seconds) as usize;
            if let Some((docs, fields)) = buckets.get_mut(bucket) {
                *docs += 1;
                for field in fields {
                    field.count(doc);
                }
            }
        }
    }

    fn harvest(self) -> tantivy::Result<Stats> {
        let mut counts = HashMap::new();
        for field in self.fields {
            let (name, terms) = field.harvest()?;
            counts.insert(name, terms);
        }
        let mut series = Vec::new();
        if let Some((_, buckets)) = self.series {
            for (docs, fields) in buckets {
                let mut bucket_counts = HashMap::new();
                for field in fields {
                    let (name, terms) = field.harvest()?;
                    bucket_counts.insert(name, terms);
                }
                series.push(BucketStats {
                    docs,
                    counts: bucket_counts,
                });
            }
        }
        Ok(Stats {
            docs: self.docs,
            counts,
            series,
        })
    }
}
