//! Queries over the index: free text cut by the same jieba tokenizer as the
//! documents, combined with exact filters; hits with highlighted snippets,
//! char-offset highlights (the hit's text cut again exactly as indexed) and
//! tags with their evidence; facet counts over the whole matching set.
//!
//! Free text is not fed to tantivy's query parser: customer-typed queries
//! are full of characters that are syntax there (":", "(", "-"). The query
//! is cut into words by jieba's precise mode and every word must occur;
//! documents are indexed in search mode (compounds plus their parts), so
//! "尺码 偏小", "尺码偏小" and "偏小" all find "尺码偏小了".
//!
//! Queries typed by strangers are bounded before anything is searched
//! ([`FeedbackIndex::check_query`] with [`QueryLimits`], from the settings
//! `max_query_chars` and `max_query_terms`): the length in characters, the
//! number of distinct words (each word is two term clauses, so this bounds
//! the boolean query), and control characters, which no search box types
//! and which mean a broken or hostile client.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

use super::aggregate::{Stats, StatsCollector, TermCounts, Window};
use super::{schema, FeedbackIndex, IndexError};
use crate::feedback::{Evidence, TagMention};
use crate::nlp::lexicon::TagDefinition;

/// Bounds on a free-text query (settings `max_query_chars`,
/// `max_query_terms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Longest query, in characters (Unicode code points).
    pub max_chars: usize,
    /// Most distinct words after segmentation.
    pub max_terms: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_chars: 200,
            max_terms: 32,
        }
    }
}
const SNIPPET_CHARS: usize = 160;

/// Exact filters shared by search and boards. `polarity` applies to the
/// tag or library filter when one is given, otherwise to any mention.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub tag: Option<String>,
    pub library: Option<String>,
    pub polarity: Option<String>,
    pub sentiment: Option<String>,
    pub source: Option<String>,
    pub channel: Option<String>,
    pub sku: Option<String>,
    pub category: Option<String>,
    pub product_name: Option<String>,
    pub consumer_id: Option<String>,
    pub reason_code: Option<String>,
    /// Unix seconds, inclusive.
    pub from: Option<i64>,
    /// Unix seconds, exclusive.
    pub to: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Relevance,
    Newest,
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub text: Option<String>,
    pub filters: Filters,
    pub sort: SortOrder,
    pub limit: usize,
    pub offset: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HitTag {
    pub tag: String,
    pub polarity: String,
    /// Display name from the lexicon; filled by [`SearchResult::name_tags`]
    /// (the index does not know the lexicon's names).
    pub name: Option<String>,
    pub library: String,
    /// `span` and `clause_span` are char offsets into `text` (or into the
    /// field named by `evidence.field`).
    pub evidence: Option<Evidence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub id: u64,
    pub score: Option<f32>,
    /// HTML: the text is escaped, matches are wrapped in `<mark>`.
    pub snippet: String,
    pub text: String,
    /// `[start, end)` char offsets in `text` of the words the query matched,
    /// merged where they overlap; empty without a free-text query.
    pub highlights: Vec<[usize; 2]>,
    pub created_at: i64,
    pub source: String,
    pub channel: String,
    pub sku: Option<String>,
    pub category: Option<String>,
    pub product_name: Option<String>,
    pub consumer_id: Option<String>,
    pub rating: Option<u64>,
    pub sentiment: String,
    pub tags: Vec<HitTag>,
    pub keywords: Vec<String>,
}

/// Hits in order: score (when ranked by relevance) and where to read them.
pub(crate) type RankedAddresses = Vec<(Option<f32>, DocAddress)>;

pub const FACET_FIELDS: [&str; 9] = [
    schema::TAG,
    schema::LIBRARY,
    schema::POLARITY,
    schema::SOURCE,
    schema::CHANNEL,
    schema::SKU,
    schema::CATEGORY,
    schema::SENTIMENT,
    schema::REASON_CODE,
];

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub total: u64,
    pub hits: Vec<SearchHit>,
    pub facets: BTreeMap<&'static str, TermCounts>,
}

impl SearchResult {
    /// Gives every hit tag its lexicon name (the id when the lexicon no
    /// longer has the tag).
    pub fn name_tags(&mut self, definitions: &[TagDefinition]) {
        for tag in self.hits.iter_mut().flat_map(|hit| hit.tags.iter_mut()) {
            tag.name = Some(
                definitions
                    .iter()
                    .find(|definition| definition.id == tag.tag)
                    .map_or_else(|| tag.tag.clone(), |definition| definition.name.clone()),
            );
        }
    }
}

impl FeedbackIndex {
    fn term(&self, field_name: &str, value: &str) -> Result<Term, IndexError> {
        Ok(Term::from_field_text(
            self.schema.get_field(field_name)?,
            value,
        ))
    }

    fn term_query(&self, field_name: &str, value: &str) -> Result<Box<dyn Query>, IndexError> {
        Ok(Box::new(TermQuery::new(
            self.term(field_name, value)?,
            IndexRecordOption::Basic,
        )))
    }

    /// Refuses a free-text query that is too long, has too many words or
    /// holds control characters, naming the parameter `q`. Callers that
    /// take queries from outside check before searching or exporting.
    pub fn check_query(&self, text: &str, limits: &QueryLimits) -> Result<(), IndexError> {
        let invalid = |message: String| IndexError::InvalidQuery {
            field: "q",
            message,
        };
        // Counting stops one past the limit: a megabyte of query costs no more.
        let chars = text.chars().take(limits.max_chars + 1).count();
        if chars > limits.max_chars {
            return Err(invalid(format!(
                "query is longer than {} characters; shorten it or use filters",
                limits.max_chars
            )));
        }
        if let Some(control) = text
            .chars()
            .find(|ch| ch.is_control() && !matches!(ch, '\t' | '\n' | '\r'))
        {
            return Err(invalid(format!(
                "query contains the control character U+{:04X}; send plain text",
                u32::from(control)
            )));
        }
        let terms = self.query_words(text).len();
        if terms > limits.max_terms {
            return Err(invalid(format!(
                "query has {terms} distinct words; at most {} are accepted",
                limits.max_terms
            )));
        }
        Ok(())
    }

    /// The query's words as the index stores them (jieba precise mode,
    /// lower-cased, punctuation dropped, each once). Unbounded: see
    /// [`check_query`](Self::check_query).
    pub(crate) fn query_words(&self, text: &str) -> Vec<String> {
        let normalised = crate::nlp::normalise::normalise(text);
        let mut words = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for part in normalised.split_whitespace() {
            for word in self.segmenter.words(part) {
                if word.word.chars().any(char::is_alphanumeric)
                    && seen.insert(word.word.to_lowercase())
                {
                    words.push(word.word.to_lowercase());
                }
            }
        }
        words
    }

    /// The free-text part, or `None` when there is none (match everything).
    fn text_query(&self, text: &str) -> Result<Option<Box<dyn Query>>, IndexError> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in self.query_words(text) {
            // A word may be in the customer's words or in what the agent
            // said (chats and calls); the customer's words rank first.
            let in_text: Box<dyn Query> = Box::new(TermQuery::new(
                Term::from_field_text(self.fields.text, &word),
                IndexRecordOption::WithFreqs,
            ));
            let in_context: Box<dyn Query> = Box::new(BoostQuery::new(
                Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.context, &word),
                    IndexRecordOption::WithFreqs,
                )),
                0.5,
            ));
            clauses.push((
                Occur::Must,
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, in_text),
                    (Occur::Should, in_context),
                ])),
            ));
        }
        Ok(if clauses.is_empty() {
            None
        } else {
            Some(Box::new(BooleanQuery::new(clauses)))
        })
    }

    fn filter_clauses(
        &self,
        filters: &Filters,
    ) -> Result<Vec<(Occur, Box<dyn Query>)>, IndexError> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut must = |query: Box<dyn Query>| clauses.push((Occur::Must, query));
        match (&filters.tag, &filters.library, &filters.polarity) {
            (Some(tag), _, Some(polarity)) => {
                must(self.term_query(schema::TAG_POLARITY, &format!("{tag}:{polarity}"))?)
            }
            (Some(tag), _, None) => must(self.term_query(schema::TAG, tag)?),
            (None, Some(library), Some(polarity)) => {
                must(self.term_query(schema::LIBRARY_POLARITY, &format!("{library}:{polarity}"))?)
            }
            (None, Some(library), None) => must(self.term_query(schema::LIBRARY, library)?),
            (None, None, Some(polarity)) => must(self.term_query(schema::POLARITY, polarity)?),
            (None, None, None) => {}
        }
        if let (Some(tag), Some(library)) = (&filters.tag, &filters.library) {
            // Both given: the tag must also belong to the library.
            if crate::feedback::library_of(tag) != library {
                must(Box::new(BooleanQuery::new(Vec::new())));
            }
        }
        let exact = [
            (schema::SENTIMENT, &filters.sentiment),
            (schema::SOURCE, &filters.source),
            (schema::CHANNEL, &filters.channel),
            (schema::SKU, &filters.sku),
            (schema::CATEGORY, &filters.category),
            (schema::PRODUCT_NAME, &filters.product_name),
            (schema::CONSUMER_ID, &filters.consumer_id),
            (schema::REASON_CODE, &filters.reason_code),
        ];
        for (field_name, value) in exact {
            if let Some(value) = value {
                must(self.term_query(field_name, value)?);
            }
        }
        if filters.from.is_some() || filters.to.is_some() {
            let lower = filters.from.map_or(Bound::Unbounded, |from| {
                Bound::Included(Term::from_field_i64(self.fields.created_at, from))
            });
            let upper = filters.to.map_or(Bound::Unbounded, |to| {
                Bound::Excluded(Term::from_field_i64(self.fields.created_at, to))
            });
            must(Box::new(RangeQuery::new(lower, upper)));
        }
        Ok(clauses)
    }

    pub(super) fn build_query(
        &self,
        text: Option<&str>,
        filters: &Filters,
    ) -> Result<(Box<dyn Query>, bool), IndexError> {
        let text_query = match text {
            Some(text) => self.text_query(text)?,
            None => None,
        };
        let has_text = text_query.is_some();
        let mut clauses = self.filter_clauses(filters)?;
        if let Some(text_query) = text_query {
            clauses.push((Occur::Must, text_query));
        }
        if clauses.is_empty() {
            return Ok((Box::new(AllQuery), false));
        }
        Ok((Box::new(BooleanQuery::new(clauses)), has_text))
    }

    pub fn search(&self, request: &SearchRequest) -> Result<SearchResult, IndexError> {
        let searcher = self.reader.searcher();
        let (query, has_text) = self.build_query(request.text.as_deref(), &request.filters)?;
        let (addresses, stats) = self.ranked(
            &searcher,
            &*query,
            has_text,
            request.sort,
            request.limit.max(1),
            request.offset,
            Some(StatsCollector::counts(FACET_FIELDS.to_vec())),
        )?;
        let stats = stats.into_iter().flatten().next().unwrap_or_default();
        let snippets = if has_text {
            let mut generator = SnippetGenerator::create(&searcher, &*query, self.fields.text)?;
            generator.set_max_num_chars(SNIPPET_CHARS);
            Some(generator)
        } else {
            None
        };
        let query_words = match (&request.text, has_text) {
            (Some(text), true) => self.query_words(text),
            _ => Vec::new(),
        };
        let mut hits = Vec::with_capacity(addresses.len());
        if request.limit > 0 {
            for (score, address) in addresses {
                hits.push(self.hit(&searcher, address, score, snippets.as_ref(), &query_words)?);
            }
        }
        let facets = FACET_FIELDS
            .iter()
            .map(|field| (*field, stats.counts.get(field).cloned().unwrap_or_default()))
            .collect();
        Ok(SearchResult {
            total: stats.docs,
            hits,
            facets,
        })
    }

    /// The addresses of one page of hits in the requested order, with what
    /// `counting` (if any) counted over the whole result set in the same pass.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn ranked(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        has_text: bool,
        sort: SortOrder,
        limit: usize,
        offset: usize,
        counting: Option<StatsCollector>,
    ) -> Result<(RankedAddresses, Option<Vec<Stats>>), IndexError> {
        let window = TopDocs::with_limit(limit).and_offset(offset);
        Ok(match sort {
            SortOrder::Relevance if has_text => {
                let (top, stats) = searcher.search(query, &(window.order_by_score(), counting))?;
                (
                    top.into_iter()
                        .map(|(score, address)| (Some(score), address))
                        .collect(),
                    stats,
                )
            }
            // Without free text every hit scores the same: newest first is the useful order.
            SortOrder::Relevance | SortOrder::Newest => {
                let (top, stats) = searcher.search(
                    query,
                    &(
                        window.order_by_fast_field::<i64>(schema::CREATED_AT, Order::Desc),
                        counting,
                    ),
                )?;
                (
                    top.into_iter()
                        .map(|(_, address)| (None, address))
                        .collect(),
                    stats,
                )
            }
        })
    }

    fn hit(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        score: Option<f32>,
        snippets: Option<&SnippetGenerator>,
        query_words: &[String],
    ) -> Result<SearchHit, IndexError> {
        let document: TantivyDocument = searcher.doc(address)?;
        let field = |name: &str| self.schema.get_field(name);
        let first = |name: &str| -> Result<Option<String>, IndexError> {
            Ok(document
                .get_first(field(name)?)
                .and_then(|value| value.as_str().map(str::to_string)))
        };
        let text = first(schema::TEXT)?.unwrap_or_default();
        let mut snippet_html = String::new();
        if let Some(generator) = snippets {
            let mut snippet = generator.snippet_from_doc(&document);
            snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
            if !snippet.is_empty() {
                snippet_html = snippet.to_html();
            }
        }
        if snippet_html.is_empty() {
            let prefix: String = text.chars().take(SNIPPET_CHARS).collect();
            snippet_html = html_escape(&prefix);
        }
        Ok(SearchHit {
            id: document
                .get_first(self.fields.id)
                .and_then(|value| value.as_u64())
                .unwrap_or_default(),
            score,
            snippet: snippet_html,
            highlights: self.highlights(&text, query_words),
            created_at: document
                .get_first(self.fields.created_at)
                .and_then(|value| value.as_i64())
                .unwrap_or_default(),
            source: first(schema::SOURCE)?.unwrap_or_default(),
            channel: first(schema::CHANNEL)?.unwrap_or_default(),
            sku: first(schema::SKU)?,
            category: first(schema::CATEGORY)?,
            product_name: first(schema::PRODUCT_NAME)?,
            consumer_id: first(schema::CONSUMER_ID)?,
            rating: document
                .get_first(self.fields.rating)
                .and_then(|value| value.as_u64()),
            sentiment: first(schema::SENTIMENT)?.unwrap_or_default(),
            tags: self.hit_tags(&document)?,
            keywords: FeedbackIndex::stored_strings(&document, field(schema::KEYWORD)?),
            text,
        })
    }

    /// Tags with their evidence from the stored mentions. Should the stored
    /// JSON be unreadable, the `tag:polarity` terms still name the tags
    /// (without evidence) rather than failing the whole search.
    fn hit_tags(&self, document: &TantivyDocument) -> Result<Vec<HitTag>, IndexError> {
        let mentions: Option<Vec<TagMention>> = document
            .get_first(self.fields.tag_mentions)
            .and_then(|value| value.as_str())
            .and_then(|json| serde_json::from_str(json).ok());
        if let Some(mentions) = mentions {
            return Ok(mentions
                .into_iter()
                .map(|mention| HitTag {
                    polarity: mention.polarity.as_str().to_string(),
                    name: None,
                    library: mention.library,
                    evidence: Some(mention.evidence),
                    tag: mention.tag,
                })
                .collect());
        }
        let tag_polarity = self.schema.get_field(schema::TAG_POLARITY)?;
        Ok(FeedbackIndex::stored_strings(document, tag_polarity)
            .into_iter()
            .filter_map(|value| {
                value.rsplit_once(':').map(|(tag, polarity)| HitTag {
                    tag: tag.to_string(),
                    polarity: polarity.to_string(),
                    name: None,
                    library: crate::feedback::library_of(tag).to_string(),
                    evidence: None,
                })
            })
            .collect())
    }

    /// Char ranges of `text` whose index tokens are query words. The text is
    /// cut exactly as it was indexed, so a highlight marks what matched.
    pub(crate) fn highlights(&self, text: &str, query_words: &[String]) -> Vec<[usize; 2]> {
        if query_words.is_empty() {
            return Vec::new();
        }
        let mut byte_ranges: Vec<(usize, usize)> = self
            .segmenter
            .index_words(text)
            .into_iter()
            .filter(|token| {
                let word = token.word.to_lowercase();
                query_words.contains(&word)
            })
            .map(|token| (token.byte_start, token.byte_end))
            .collect();
        merge_ranges_to_chars(text, &mut byte_ranges)
    }

    /// Counts over everything matching `filters`, split into `windows`
    /// (one [`Stats`] each), in one pass.
    pub fn stats(
        &self,
        filters: &Filters,
        count_fields: Vec<&'static str>,
        windows: Vec<Window>,
    ) -> Result<Vec<Stats>, IndexError> {
        let searcher = self.reader.searcher();
        let (query, _) = self.build_query(None, filters)?;
        Ok(searcher.search(
            &*query,
            &StatsCollector {
                count_fields,
                windows,
            },
        )?)
    }
}

/// Sorts and merges overlapping byte ranges (search mode yields a compound
/// and its parts) and converts them to char offsets.
fn merge_ranges_to_chars(text: &str, byte_ranges: &mut [(usize, usize)]) -> Vec<[usize; 2]> {
    byte_ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for &(start, end) in byte_ranges.iter() {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let char_offset = |byte: usize| text.get(..byte).map_or(0, |prefix| prefix.chars().count());
    merged
        .into_iter()
        .map(|(start, end)| [char_offset(start), char_offset(end)])
        .collect()
}

fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_matches_merge_into_char_ranges() {
        let text = "尺码偏小了, too small";
        // "尺码偏小" (bytes 0..12) and its part "偏小" (6..12); "small" at bytes 21..26.
        let mut ranges = vec![(6, 12), (0, 12), (21, 26)];
        assert_eq!(
            merge_ranges_to_chars(text, &mut ranges),
            vec![[0, 4], [11, 16]]
        );
    }

    /// One index (empty) and segmenter for every case: loading the
    /// lexicon and jieba once keeps the properties fast.
    fn shared_index() -> &'static FeedbackIndex {
        static INDEX: std::sync::OnceLock<(tempfile::TempDir, FeedbackIndex)> =
            std::sync::OnceLock::new();
        &INDEX
            .get_or_init(|| {
                let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
                let lexicon =
                    crate::nlp::lexicon::Lexicon::load(&root.join("lexicons")).expect("lexicon");
                let segmenter = crate::nlp::segment::Segmenter::new(&lexicon);
                let data = tempfile::tempdir().expect("tempdir");
                let (index, _) = FeedbackIndex::open(&data.path().join("index"), &segmenter, true)
                    .expect("index");
                (data, index)
            })
            .1
    }

    const LIMITS: QueryLimits = QueryLimits {
        max_chars: 60,
        max_terms: 8,
    };

    #[test]
    fn hostile_queries_are_refused_with_a_reason() {
        let index = shared_index();
        let refused = |query: &str| match index.check_query(query, &LIMITS) {
            Err(IndexError::InvalidQuery { field, message }) => {
                assert_eq!(field, "q");
                message
            }
            other => panic!("{query:?} was not refused: {other:?}"),
        };
        assert!(refused(&"慢".repeat(61)).contains("longer than 60 characters"));
        assert!(refused("物流\u{0000}太慢").contains("U+0000"));
        assert!(refused("a b c d e f g h i").contains("9 distinct words"));
        for fine in [
            "慢".repeat(60).as_str(),
            "a b c d e f g h",
            "a a a a a a a a a a a a a",
            "((((\"\"\"))))AND OR NOT :: ^^ ~~ * ? [ ] { }",
            "物流\t太慢\r\n",
            "",
        ] {
            let checked = index.check_query(fine, &LIMITS);
            assert!(checked.is_ok(), "{fine:?}: {checked:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// Any query is refused with a reason or searchable within the
        /// limits; a query the check lets through searches without error.
        #[test]
        fn any_query_is_refused_or_searched_within_limits(
            query in "(\\PC|[\\x00-\\x1f\\u{200b}\\u{202e}\\u{feff}:()\"*?~^+\\-\\[\\]{}]| |物流|太慢|AND|OR|NOT){0,70}",
        ) {
            let index = shared_index();
            match index.check_query(&query, &LIMITS) {
                Ok(()) => {
                    proptest::prop_assert!(query.chars().count() <= LIMITS.max_chars);
                    proptest::prop_assert!(index.query_words(&query).len() <= LIMITS.max_terms);
                    let result = index.search(&SearchRequest {
                        text: Some(query.clone()),
                        filters: Filters::default(),
                        sort: SortOrder::Relevance,
                        limit: 5,
                        offset: 0,
                    });
                    proptest::prop_assert!(result.is_ok(), "{:?}", result.err());
                }
                Err(IndexError::InvalidQuery { field, .. }) => proptest::prop_assert_eq!(field, "q"),
                Err(other) => proptest::prop_assert!(false, "unexpected error {other}"),
            }
        }

        /// The word limit counts distinct words, exactly.
        #[test]
        fn the_word_limit_is_exact(words in proptest::collection::btree_set("[a-z]{3,8}", 0..16)) {
            let query = words.iter().cloned().collect::<Vec<_>>().join(" ");
            let accepted = shared_index().check_query(&query, &QueryLimits { max_chars: 1_000, max_terms: 8 }).is_ok();
            proptest::prop_assert_eq!(accepted, words.len() <= 8);
        }
    }
}
