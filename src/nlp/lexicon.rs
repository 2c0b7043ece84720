//! The editable lexicon (`lexicons/`): tag definitions with their words,
//! general opinion words, negation, degree and contrast words.
//!
//! All entries are compiled into one leftmost-longest Aho-Corasick automaton,
//! so a text is scanned once whatever the size of the lexicon, and a longer
//! entry shadows the shorter ones inside it ("快递" hides "快", "不错" hides
//! "不"). One surface form may carry several roles (e.g. an aspect of one tag
//! and a general opinion word); each match reports all of them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::feedback::Polarity;

#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("cannot read lexicon file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lexicon file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("lexicon file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot build the lexicon matcher: {0}")]
    Automaton(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionFile {
    version: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagFile {
    #[serde(default)]
    tag: Vec<TagDefinitionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagDefinitionFile {
    id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    aspects: Vec<String>,
    #[serde(default)]
    aspect_positive: Vec<String>,
    #[serde(default)]
    aspect_negative: Vec<String>,
    #[serde(default)]
    aspect_neutral: Vec<String>,
    #[serde(default)]
    positive: Vec<String>,
    #[serde(default)]
    negative: Vec<String>,
    #[serde(default)]
    neutral: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SentimentFile {
    #[serde(default)]
    positive: Vec<String>,
    #[serde(default)]
    negative: Vec<String>,
    #[serde(default)]
    neutral: Vec<String>,
    #[serde(default)]
    negation: Vec<String>,
    #[serde(default)]
    contrast: Vec<String>,
    /// Words that contain an opinion character without being an opinion
    /// ("好像", "只好"): matched so that they shadow the shorter entry.
    #[serde(default)]
    ignore: Vec<String>,
    #[serde(default)]
    degree: BTreeMap<String, f32>,
}

/// What a matched surface form means. Indices refer to [`Lexicon::tags`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role {
    Aspect(usize),
    AspectOpinion(usize, Polarity),
    Phrase(usize, Polarity),
    Exclude(usize),
    Opinion(Polarity),
    Negation,
    Degree(f32),
    Contrast,
    Ignore,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TagDefinition {
    pub id: String,
    pub library: String,
    pub name: String,
    pub description: Option<String>,
}

/// One lexicon hit in a text, in char offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct LexiconMatch {
    pub start: usize,
    pub end: usize,
    pub entry: usize,
}

pub struct Lexicon {
    pub version: String,
    pub tags: Vec<TagDefinition>,
    /// Refund reasons as tag priors (`refund_reasons.toml`, optional).
    pub refund_reasons: super::refund_reasons::RefundReasons,
    entries: Vec<String>,
    roles: Vec<Vec<Role>>,
    automaton: AhoCorasick,
}

impl std::fmt::Debug for Lexicon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lexicon")
            .field("version", &self.version)
            .field("tags", &self.tags.len())
            .field("entries", &self.entries.len())
            .finish()
    }
}

fn read(path: &Path) -> Result<String, LexiconError> {
    std::fs::read_to_string(path).map_err(|source| LexiconError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn parse<T: for<'de> Deserialize<'de>>(path: &Path, text: &str) -> Result<T, LexiconError> {
    toml::from_str(text).map_err(|error| LexiconError::Syntax {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

struct Builder {
    entry_index: HashMap<String, usize>,
    entries: Vec<String>,
    roles: Vec<Vec<Role>>,
}

impl Builder {
    fn add(&mut self, surface: &str, role: Role) {
        let surface = surface.trim().to_lowercase();
        if surface.is_empty() {
            return;
        }
        let index = *self.entry_index.entry(surface.clone()).or_insert_with(|| {
            self.entries.push(surface);
            self.roles.push(Vec::new());
            self.entries.len() - 1
        });
        if !self.roles[index].contains(&role) {
            self.roles[index].push(role);
        }
    }
}

impl Lexicon {
    /// Loads `lexicon.toml`, `sentiment.toml` and every `tags/*.toml` under `dir`.
    pub fn load(dir: &Path) -> Result<Lexicon, LexiconError> {
        let mut hasher = Sha256::new();
        let version_path = dir.join("lexicon.toml");
        let version_text = read(&version_path)?;
        hasher.update(version_text.as_bytes());
        let version_file: VersionFile = parse(&version_path, &version_text)?;

        let sentiment_path = dir.join("sentiment.toml");
        let sentiment_text = read(&sentiment_path)?;
        hasher.update(sentiment_text.as_bytes());
        let sentiment: SentimentFile = parse(&sentiment_path, &sentiment_text)?;

        let tags_dir = dir.join("tags");
        let mut tag_paths: Vec<PathBuf> = std::fs::read_dir(&tags_dir)
            .map_err(|source| LexiconError::Io {
                path: tags_dir.clone(),
                source,
            })?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        // Sorted so the version hash and tag order do not depend on the file system.
        tag_paths.sort();

        let mut builder = Builder {
            entry_index: HashMap::new(),
            entries: Vec::new(),
            roles: Vec::new(),
        };
        let mut tags = Vec::new();
        let mut seen_ids: HashMap<String, PathBuf> = HashMap::new();
        for path in &tag_paths {
            let text = read(path)?;
            hasher.update(
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            hasher.update(text.as_bytes());
            let file: TagFile = parse(path, &text)?;
            for definition in file.tag {
                let invalid = |message: String| LexiconError::Invalid {
                    path: path.clone(),
                    message,
                };
                let id = definition.id.trim().to_string();
                let Some((library, aspect)) = id.split_once('.') else {
                    return Err(invalid(format!(
                        "tag id `{id}` must look like `library.aspect`"
                    )));
                };
                if library.is_empty() || aspect.is_empty() || id.contains(char::is_whitespace) {
                    return Err(invalid(format!(
                        "tag id `{id}` must look like `library.aspect`"
                    )));
                }
                if let Some(first) = seen_ids.insert(id.clone(), path.clone()) {
                    return Err(invalid(format!(
                        "tag `{id}` is defined twice (also in {})",
                        first.display()
                    )));
                }
                let tag_index = tags.len();
                let word_lists = [
                    (&definition.aspects, Role::Aspect(tag_index)),
                    (
                        &definition.aspect_positive,
                        Role::AspectOpinion(tag_index, Polarity::Pos),
                    ),
                    (
                        &definition.aspect_negative,
                        Role::AspectOpinion(tag_index, Polarity::Neg),
                    ),
                    (
                        &definition.aspect_neutral,
                        Role::AspectOpinion(tag_index, Polarity::Neu),
                    ),
                    (&definition.positive, Role::Phrase(tag_index, Polarity::Pos)),
                    (&definition.negative, Role::Phrase(tag_index, Polarity::Neg)),
                    (&definition.neutral, Role::Phrase(tag_index, Polarity::Neu)),
                    (&definition.exclude, Role::Exclude(tag_index)),
                ];
                for (words, role) in word_lists {
                    for word in words {
                        builder.add(word, role);
                    }
                }
                tags.push(TagDefinition {
                    id: id.clone(),
                    library: library.to_string(),
                    name: definition.name,
                    description: definition.description,
                });
            }
        }
        if tags.is_empty() {
            return Err(LexiconError::Invalid {
                path: tags_dir,
                message: "no [[tag]] defined".into(),
            });
        }

        for (words, polarity) in [
            (&sentiment.positive, Polarity::Pos),
            (&sentiment.negative, Polarity::Neg),
            (&sentiment.neutral, Polarity::Neu),
        ] {
            for word in words {
                builder.add(word, Role::Opinion(polarity));
            }
        }
        for word in &sentiment.negation {
            builder.add(word, Role::Negation);
        }
        for word in &sentiment.contrast {
            builder.add(word, Role::Contrast);
        }
        for word in &sentiment.ignore {
            builder.add(word, Role::Ignore);
        }
        for (word, multiplier) in &sentiment.degree {
            if !(multiplier.is_finite() && *multiplier > 0.0 && *multiplier <= 10.0) {
                return Err(LexiconError::Invalid {
                    path: sentiment_path,
                    message: format!("degree `{word}` = {multiplier} must be a number in (0, 10]"),
                });
            }
            builder.add(word, Role::Degree(*multiplier));
        }

        let reasons_path = dir.join("refund_reasons.toml");
        let refund_reasons = if reasons_path.exists() {
            let text = read(&reasons_path)?;
            hasher.update(text.as_bytes());
            let known: Vec<&str> = tags.iter().map(|tag| tag.id.as_str()).collect();
            super::refund_reasons::RefundReasons::load(&reasons_path, &text, &known)?
        } else {
            super::refund_reasons::RefundReasons::default()
        };

        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .build(&builder.entries)
            .map_err(|error| LexiconError::Automaton(error.to_string()))?;
        let digest = hex::encode(hasher.finalize());
        Ok(Lexicon {
            version: format!("{}+{}", version_file.version.trim(), &digest[..8]),
            tags,
            refund_reasons,
            entries: builder.entries,
            roles: builder.roles,
            automaton,
        })
    }

    pub fn roles(&self, entry: usize) -> &[Role] {
        &self.roles[entry]
    }

    pub fn entry(&self, entry: usize) -> &str {
        &self.entries[entry]
    }

    pub fn tag_index(&self, id: &str) -> Option<usize> {
        self.tags.iter().position(|tag| tag.id == id)
    }

    /// Every surface form, for the segmenter's user dictionary.
    pub fn surface_forms(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(String::as_str)
    }

    /// Leftmost-longest hits over `text`, with char offsets.
    pub fn find(&self, text: &str) -> Vec<LexiconMatch> {
        let mut matches = Vec::new();
        let mut char_offset = CharOffsets::new(text);
        for hit in self.automaton.find_iter(text) {
            let start = char_offset.at(hit.start());
            let end = char_offset.at(hit.end());
            matches.push(LexiconMatch {
                start,
                end,
                entry: hit.pattern().as_usize(),
            });
        }
        matches
    }
}

/// Converts increasing byte offsets to char offsets in one forward pass.
pub struct CharOffsets<'a> {
    text: &'a str,
    byte: usize,
    chars: usize,
}

impl<'a> CharOffsets<'a> {
    pub fn new(text: &'a str) -> Self {
        CharOffsets {
            text,
            byte: 0,
            chars: 0,
        }
    }

    pub fn at(&mut self, byte_offset: usize) -> usize {
        if byte_offset < self.byte {
            self.byte = 0;
            self.chars = 0;
        }
        self.chars += self.text[self.byte..byte_offset].chars().count();
        self.byte = byte_offset;
        self.chars
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Loaded once per test binary: property tests call this per case.
    pub fn shipped() -> &'static Lexicon {
        static SHIPPED: std::sync::OnceLock<Lexicon> = std::sync::OnceLock::new();
        SHIPPED.get_or_init(|| {
            Lexicon::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons"))
                .expect("shipped lexicon loads")
        })
    }

    #[test]
    fn shipped_lexicon_has_every_canonical_tag() {
        let lexicon = shipped();
        let taxonomy = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons/taxonomy.md"),
        )
        .expect("taxonomy copy");
        let canonical: Vec<&str> = taxonomy
            .lines()
            .filter_map(|line| line.strip_prefix("| "))
            .filter_map(|rest| rest.split(" |").next())
            .filter(|id| id.contains('.') && !id.contains(' '))
            .collect();
        assert_eq!(
            canonical.len(),
            22,
            "taxonomy copy lists the 22 canonical ids"
        );
        for id in canonical {
            assert!(
                lexicon.tag_index(id).is_some(),
                "lexicon lacks canonical tag {id}"
            );
        }
    }

    #[test]
    fn longest_entry_wins() {
        let lexicon = shipped();
        let hits = lexicon.find("快递很快");
        let surfaces: Vec<&str> = hits.iter().map(|hit| lexicon.entry(hit.entry)).collect();
        assert_eq!(surfaces.first(), Some(&"快递"));
    }

    #[test]
    fn version_carries_content_hash() {
        let lexicon = shipped();
        assert!(lexicon.version.starts_with("lex-"), "{}", lexicon.version);
        assert_eq!(lexicon.version.rsplit('+').next().map(str::len), Some(8));
    }
}
