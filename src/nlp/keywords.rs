//! Keywords of an item: jieba's TF-IDF over the normalised text, with
//! single characters, numbers and our own opinion/negation words left out
//! (a designer searching complaints wants "拉链", "起球", not "很" or "不").

use jieba_rs::{KeywordExtract, KeywordExtractConfig, TfIdf};

use super::segment::Segmenter;

pub const KEYWORDS_PER_ITEM: usize = 5;

pub struct KeywordExtractor {
    tfidf: TfIdf,
}

impl KeywordExtractor {
    pub fn new() -> KeywordExtractor {
        let mut config = KeywordExtractConfig::builder()
            .use_hmm(true)
            .min_keyword_length(2);
        for stop_word in [
            "没有", "就是", "还是", "但是", "不过", "非常", "感觉", "东西", "一个", "这个", "那个",
            "什么", "因为", "所以", "真的", "而且", "可以", "已经", "还有", "自己", "我们", "他们",
            "你们", "这样", "一下", "知道", "觉得",
        ] {
            config = config.add_stop_word(stop_word.to_string());
        }
        let mut tfidf = TfIdf::default();
        *tfidf.config_mut() = config.build();
        KeywordExtractor { tfidf }
    }

    pub fn extract(&self, segmenter: &Segmenter, text: &str) -> Vec<String> {
        self.tfidf
            .extract_keywords(segmenter.jieba(), text, KEYWORDS_PER_ITEM * 2, Vec::new())
            .into_iter()
            .map(|keyword| keyword.keyword)
            .filter(|keyword| {
                !keyword
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_punctuation())
            })
            .take(KEYWORDS_PER_ITEM)
            .collect()
    }
}

impl Default for KeywordExtractor {
    fn default() -> Self {
        KeywordExtractor::new()
    }
}
