//! Keywords of an item: TF-IDF over the jieba words its clauses were
//! already cut into, with single characters, numbers, stop words and our
//! own opinion/negation words left out (a designer searching complaints
//! wants "拉链", "起球", not "很" or "不").
//!
//! The inverse document frequencies are jieba's own table
//! (`lexicons/keyword_idf.txt`, from jieba-rs, MIT), and the ranking is
//! jieba's TF-IDF: weight = count × idf / words counted, unknown words at the
//! table's median, ties in word order. jieba-rs's extractor would cut (and
//! part-of-speech tag) the whole text a second time: about 7 % of
//! `classify`'s CPU, measured.

use std::hash::BuildHasher;
use std::path::{Path, PathBuf};

// foldhash (hashbrown's default): the std map's SipHash was most of the
// cost of looking up a few dozen short words per item.
use hashbrown::{DefaultHashBuilder, HashSet, HashTable};
use jieba_rs::DEFAULT_STOP_WORDS;

use super::tagger::ClauseText;

pub const KEYWORDS_PER_ITEM: usize = 5;
pub const IDF_FILE: &str = "keyword_idf.txt";
/// Shortest keyword, in characters.
const MIN_KEYWORD_CHARS: usize = 2;
/// Beside jieba's stop words: words every review uses.
const REVIEW_STOP_WORDS: &[&str] = &[
    "没有", "就是", "还是", "但是", "不过", "非常", "感觉", "东西", "一个", "这个", "那个", "什么",
    "因为", "所以", "真的", "而且", "可以", "已经", "还有", "自己", "我们", "他们", "你们", "这样",
    "一下", "知道", "觉得",
];

#[derive(Debug, thiserror::Error)]
#[error("keyword idf table {path}: {message}")]
pub struct KeywordError {
    pub path: PathBuf,
    pub message: String,
}

pub struct KeywordExtractor {
    idf: IdfTable,
    median_idf: f64,
    stop_words: HashSet<String>,
}

/// jieba's idf table with its words in one buffer, found through a hash
/// table of their ranges: as 270,000 separate strings it took a quarter of
/// start-up's CPU to build, and most of the time spent freeing the
/// analyser at exit.
struct IdfTable {
    words: String,
    /// (start, end) of a word in `words`, and its idf.
    entries: HashTable<(u32, u32, f64)>,
    hasher: DefaultHashBuilder,
}

impl IdfTable {
    fn word(&self, &(start, end, _): &(u32, u32, f64)) -> &str {
        &self.words[start as usize..end as usize]
    }

    fn get(&self, word: &str) -> Option<f64> {
        self.entries
            .find(self.hasher.hash_one(word), |entry| self.word(entry) == word)
            .map(|&(_, _, idf)| idf)
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Sets `word`'s idf; a word listed twice keeps its last value.
    fn set(&mut self, word: &str, idf: f64) {
        let hash = self.hasher.hash_one(word);
        let IdfTable {
            words,
            entries,
            hasher,
        } = self;
        let range = |&(start, end, _): &(u32, u32, f64)| start as usize..end as usize;
        if let Some(entry) = entries.find_mut(hash, |entry| &words[range(entry)] == word) {
            entry.2 = idf;
            return;
        }
        // Offsets are u32 to keep entries small; a table past 4 GiB is not
        // jieba's and is cut short rather than indexed wrong.
        let (Ok(start), Ok(end)) = (
            u32::try_from(words.len()),
            u32::try_from(words.len() + word.len()),
        ) else {
            return;
        };
        words.push_str(word);
        entries.insert_unique(hash, (start, end, idf), |entry| {
            hasher.hash_one(&words[range(entry)])
        });
    }
}

impl KeywordExtractor {
    /// Reads `keyword_idf.txt` (`word idf` per line) from the lexicon
    /// directory.
    pub fn load(lexicon_dir: &Path) -> Result<KeywordExtractor, KeywordError> {
        let path = lexicon_dir.join(IDF_FILE);
        let text = std::fs::read_to_string(&path).map_err(|error| KeywordError {
            path: path.clone(),
            message: error.to_string(),
        })?;
        let extractor = KeywordExtractor::from_table(&text);
        if extractor.idf.len() == 0 {
            return Err(KeywordError {
                path,
                message: "no `word idf` line".into(),
            });
        }
        Ok(extractor)
    }

    fn from_table(text: &str) -> KeywordExtractor {
        let lines = text.lines().count();
        let mut idf = IdfTable {
            words: String::with_capacity(text.len()),
            entries: HashTable::with_capacity(lines),
            hasher: DefaultHashBuilder::default(),
        };
        let mut values = Vec::with_capacity(lines);
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            if let (Some(word), Some(Ok(value))) = (parts.next(), parts.next().map(str::parse)) {
                idf.set(word, value);
                values.push(value);
            }
        }
        let median_idf = if values.is_empty() {
            0.0
        } else {
            let middle = (values.len() - 1) / 2;
            *values.select_nth_unstable_by(middle, f64::total_cmp).1
        };
        let stop_words = DEFAULT_STOP_WORDS
            .iter()
            .cloned()
            .chain(REVIEW_STOP_WORDS.iter().map(|word| word.to_string()))
            .collect();
        KeywordExtractor {
            idf,
            median_idf,
            stop_words,
        }
    }

    fn is_candidate(&self, word: &str) -> bool {
        word.chars().count() >= MIN_KEYWORD_CHARS
            && !self.stop_words.contains(word)
            && !(word.chars().any(char::is_uppercase)
                && self.stop_words.contains(&word.to_lowercase()))
            && !word
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_punctuation())
    }

    /// The item's top keywords, best first.
    pub fn extract(&self, clauses: &[ClauseText]) -> Vec<String> {
        // An item has a few dozen words: counting runs of the sorted words
        // is cheaper than hashing each into a map.
        let mut words: Vec<&str> = clauses
            .iter()
            .flat_map(ClauseText::words)
            .filter(|word| self.is_candidate(word))
            .collect();
        words.sort_unstable();
        let total = words.len() as f64;
        let mut weighted: Vec<(f64, &str)> = words
            .chunk_by(|a, b| a == b)
            .map(|run| {
                let idf = self.idf.get(run[0]).unwrap_or(self.median_idf);
                (run.len() as f64 * idf / total, run[0])
            })
            .collect();
        weighted.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        weighted
            .into_iter()
            .take(KEYWORDS_PER_ITEM)
            .map(|(_, word)| word.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clause of `words`, cut where they meet.
    fn clause(words: &[&str]) -> ClauseText {
        ClauseText::from_words(words)
    }

    #[test]
    fn ranks_by_count_times_idf_and_drops_stop_words_numbers_and_single_characters() {
        let extractor = KeywordExtractor::from_table("起球 9.0\n面料 8.0\n质量 5.0\n衣服 6.0\n");
        let keywords = extractor.extract(&[
            clause(&["面料", "起球", "了"]),
            clause(&["质量", "质量", "不", "好", "就是", "2024", "衣服"]),
        ]);
        // 质量 twice: 2 × 5 = 10 beats 起球's 9.
        assert_eq!(keywords, ["质量", "起球", "面料", "衣服"]);
    }

    #[test]
    fn a_word_listed_twice_keeps_its_last_idf() {
        let extractor = KeywordExtractor::from_table("起球 9.0\n面料 8.0\n起球 2.0\n");
        assert_eq!(extractor.idf.len(), 2);
        assert_eq!(extractor.idf.get("起球"), Some(2.0));
        assert_eq!(extractor.idf.get("面料"), Some(8.0));
        assert_eq!(extractor.idf.get("拉链"), None);
    }

    #[test]
    fn unknown_words_take_the_median_idf_and_ties_go_by_word() {
        let extractor = KeywordExtractor::from_table("甲乙 1.0\n丙丁 3.0\n戊己 9.0\n");
        assert_eq!(extractor.median_idf, 3.0);
        let keywords = extractor.extract(&[clause(&["拉链", "丙丁", "甲乙"])]);
        assert_eq!(keywords, ["丙丁", "拉链", "甲乙"]);
    }

    #[test]
    fn a_missing_table_is_an_error_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("xinsheng-no-idf-{}", std::process::id()));
        let error = KeywordExtractor::load(&dir).err().expect("no table");
        assert!(error.to_string().contains(IDF_FILE), "{error}");
    }

    #[test]
    fn shipped_table_loads() {
        let extractor =
            KeywordExtractor::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons"))
                .expect("shipped idf table");
        assert!(extractor.idf.len() > 100_000);
        assert!(extractor.idf.get("起球").is_some_and(|idf| idf > 0.0));
    }
}
