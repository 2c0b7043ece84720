//! Chinese word segmentation with jieba-rs, shared by analysis (keywords)
//! and the search index (tokenizer), so that a query is cut the same way as
//! the text it should find.
//!
//! The dictionary is jieba's default plus every multi-character CJK entry of
//! the lexicon, generated at start: "起球", "偏小", "色差" stay one token and
//! search for them does not depend on how jieba would otherwise cut them.

use std::sync::Arc;

use jieba_rs::Jieba;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use super::lexicon::Lexicon;

/// The name under which the tokenizer is registered in tantivy.
pub const TOKENIZER_NAME: &str = "xinsheng_jieba";

/// Lexicon entries longer than this are phrases ("等了一个小时"), not words:
/// adding them to the dictionary would make search tokens too coarse.
const MAX_DICTIONARY_WORD_CHARS: usize = 4;

#[derive(Clone)]
pub struct Segmenter {
    jieba: Arc<Jieba>,
}

impl Segmenter {
    pub fn new(lexicon: &Lexicon) -> Segmenter {
        let mut jieba = Jieba::new();
        for word in user_dictionary(lexicon) {
            jieba.add_word(&word, None, None);
        }
        Segmenter {
            jieba: Arc::new(jieba),
        }
    }

    /// Words with byte offsets, precise mode with HMM for unknown words:
    /// how queries are cut.
    pub fn words<'a>(&self, text: &'a str) -> Vec<jieba_rs::Token<'a>> {
        self.jieba
            .tokenize(text, jieba_rs::TokenizeMode::Default, true)
    }

    /// Precise words plus the dictionary words inside longer ones
    /// ("尺码偏小" also yields "尺码", "偏小"): how documents are indexed, so a
    /// query for a part of a compound still finds it.
    pub fn index_words<'a>(&self, text: &'a str) -> Vec<jieba_rs::Token<'a>> {
        self.jieba
            .tokenize(text, jieba_rs::TokenizeMode::Search, true)
    }

    pub fn tokenizer(&self) -> JiebaTokenizer {
        JiebaTokenizer {
            segmenter: self.clone(),
        }
    }
}

/// The generated user dictionary: lexicon words of 2..=4 CJK characters.
pub fn user_dictionary(lexicon: &Lexicon) -> Vec<String> {
    let mut words: Vec<String> = lexicon
        .surface_forms()
        .filter(|word| {
            let length = word.chars().count();
            (2..=MAX_DICTIONARY_WORD_CHARS).contains(&length)
                && word.chars().all(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c))
        })
        .map(str::to_string)
        .collect();
    words.sort();
    words
}

/// tantivy tokenizer over [`Segmenter`] for indexing: search-mode words,
/// punctuation and whitespace dropped, Latin lower-cased, byte offsets kept
/// for highlighting.
#[derive(Clone)]
pub struct JiebaTokenizer {
    segmenter: Segmenter,
}

pub struct JiebaTokenStream {
    tokens: Vec<Token>,
    index: usize,
}

impl Tokenizer for JiebaTokenizer {
    type TokenStream<'a> = JiebaTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> JiebaTokenStream {
        let mut tokens = Vec::new();
        for word in self.segmenter.index_words(text) {
            if !word.word.chars().any(char::is_alphanumeric) {
                continue;
            }
            tokens.push(Token {
                offset_from: word.byte_start,
                offset_to: word.byte_end,
                position: tokens.len(),
                text: word.word.to_lowercase(),
                position_length: 1,
            });
        }
        JiebaTokenStream { tokens, index: 0 }
    }
}

impl TokenStream for JiebaTokenStream {
    fn advance(&mut self) -> bool {
        if self.index < self.tokens.len() {
            self.index += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.index - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.index - 1]
    }
}
