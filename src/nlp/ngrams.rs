//! N-gram keys of a token-id sequence and the models' known keys.
//!
//! The arithmetic is `models/training/hashing.py`'s, which defines it for
//! training: per position, character 1-3-grams and word 1-2-grams, each a
//! 64-bit key; an n-gram touching id 0 (padding) has none. The models take
//! the table rows of the keys they know ([`KnownKeys`], read from each
//! model's keys file), so unknown keys (most of them) never reach ONNX
//! Runtime.

use sha2::{Digest, Sha256};

/// Above any vocabulary id.
pub const P: i64 = 1_000_003;
/// A prime below 2^40, so that `Q * P < 2^60` and nothing overflows.
pub const Q: i64 = 1_099_511_627_689;

/// The key kinds of hashing.py, in the order the keys are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CharUni = 0,
    CharBi = 1,
    CharTri = 2,
    WordUni = 3,
    WordBi = 4,
}

pub fn unigram(a: u32, kind: Kind) -> Option<i64> {
    (a > 0).then(|| i64::from(a) * 8 + kind as i64)
}

pub fn bigram(a: u32, b: u32, kind: Kind) -> Option<i64> {
    (a > 0 && b > 0).then(|| (i64::from(a) * P + i64::from(b)) * 8 + kind as i64)
}

pub fn trigram(a: u32, b: u32, c: u32, kind: Kind) -> Option<i64> {
    (a > 0 && b > 0 && c > 0).then(|| {
        let ab = i64::from(a) * P + i64::from(b);
        ((ab % Q * P + i64::from(c)) % Q) * 8 + kind as i64
    })
}

/// Keys are spread well enough by one multiply: hashing them with SipHash
/// was a measurable share of serving.
fn mix(key: i64) -> u64 {
    let mixed = (key as u64 ^ (key as u64 >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed ^ mixed >> 32
}

/// The n-gram keys of both models and their rows: open addressing with
/// linear probing, key 0 (which no n-gram has: ids start at 1) marking an
/// empty slot. A lookup is one cache miss in a table of
/// tens of megabytes; [`NgramTable::get_all`] announces each slot a few
/// lookups ahead so that the misses overlap (a generic hash map offers no
/// way to, and its lookups were a tenth of `classify`'s CPU).
struct NgramTable {
    slots: Vec<(i64, Rows)>,
    mask: usize,
}

/// How many lookups ahead a slot is prefetched: enough to cover a miss.
const PREFETCH_AHEAD: usize = 8;

impl NgramTable {
    /// Room for `keys` keys at most (the two models share most of theirs),
    /// two thirds full at worst.
    fn with_capacity(keys: usize) -> NgramTable {
        let slots = (keys.max(1) * 3 / 2).next_power_of_two();
        NgramTable {
            slots: vec![(0, Rows::default()); slots],
            mask: slots - 1,
        }
    }

    fn home(&self, key: i64) -> usize {
        mix(key) as usize & self.mask
    }

    /// The rows of `key`, inserted as unknown to both models if absent.
    fn entry(&mut self, key: i64) -> &mut Rows {
        let mut slot = self.home(key);
        while self.slots[slot].0 != key && self.slots[slot].0 != 0 {
            slot = (slot + 1) & self.mask;
        }
        self.slots[slot].0 = key;
        &mut self.slots[slot].1
    }

    fn get(&self, key: i64) -> Rows {
        if key == 0 {
            return Rows::default();
        }
        let mut slot = self.home(key);
        loop {
            match self.slots[slot] {
                (found, rows) if found == key => return rows,
                (0, _) => return Rows::default(),
                _ => slot = (slot + 1) & self.mask,
            }
        }
    }

    fn prefetch(&self, key: i64) {
        #[cfg(target_arch = "x86_64")]
        {
            let slot = self.slots.as_ptr().wrapping_add(self.home(key));
            // SAFETY: a prefetch is a hint that never faults; the address
            // is inside `slots` anyway.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    slot.cast::<i8>(),
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    /// The rows of each of `keys` (0: no key), in order.
    fn get_all(&self, keys: &[i64]) -> Vec<Rows> {
        for &key in keys.iter().take(PREFETCH_AHEAD) {
            self.prefetch(key);
        }
        keys.iter()
            .enumerate()
            .map(|(index, &key)| {
                if let Some(&ahead) = keys.get(index + PREFETCH_AHEAD) {
                    self.prefetch(ahead);
                }
                self.get(key)
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("not a keys file (bad header)")]
    Header,
    #[error("header says {expected} keys, the file holds {found} bytes of keys")]
    Length { expected: u64, found: usize },
    #[error("keys are not sorted and unique at position {0}")]
    Unsorted(usize),
    #[error("SHA-256 {found} differs from the {expected} its model records: the keys file belongs to another model")]
    Digest { expected: String, found: String },
}

const MAGIC: &[u8; 8] = b"XSKEYS01";

/// A keys file (hashing.write_keys): the keys of table rows 1, 2, ...
/// `expected_sha256` is what the model's graph records.
pub fn parse_keys(bytes: &[u8], expected_sha256: &str) -> Result<Vec<i64>, KeysError> {
    let found = hex::encode(Sha256::digest(bytes));
    if !found.eq_ignore_ascii_case(expected_sha256) {
        return Err(KeysError::Digest {
            expected: expected_sha256.to_string(),
            found,
        });
    }
    let (header, body) = bytes.split_at_checked(16).ok_or(KeysError::Header)?;
    if &header[..8] != MAGIC {
        return Err(KeysError::Header);
    }
    let mut count = [0u8; 8];
    count.copy_from_slice(&header[8..]);
    let expected = u64::from_le_bytes(count);
    if body.len() % 8 != 0 || (body.len() / 8) as u64 != expected {
        return Err(KeysError::Length {
            expected,
            found: body.len(),
        });
    }
    let keys: Vec<i64> = body
        .chunks_exact(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            i64::from_le_bytes(word)
        })
        .collect();
    if let Some(position) = keys.windows(2).position(|pair| pair[0] >= pair[1]) {
        return Err(KeysError::Unsorted(position + 1));
    }
    Ok(keys)
}

/// Table rows of one key in each model (0: the model does not know it).
pub type Rows = [u32; 2];

/// The known keys of both models in one map, so that each n-gram is looked
/// up once.
pub struct KnownKeys {
    /// Unigrams by [`unigram_slot`]: a third of all lookups, answered from a
    /// small array instead of the big map.
    unigrams: Vec<Rows>,
    ngrams: NgramTable,
}

/// Where a unigram key (`id * 8 + kind`: its kind is its low three bits, as
/// for every key) sits in [`KnownKeys::unigrams`]; `None` for other keys.
fn unigram_slot(key: i64) -> Option<usize> {
    let word = match key % 8 {
        k if k == Kind::CharUni as i64 => 0,
        k if k == Kind::WordUni as i64 => 1,
        _ => return None,
    };
    // Ids are below P, so unigram keys are below 8 * P.
    (0..8 * P)
        .contains(&key)
        .then(|| (key / 8) as usize * 2 + word)
}

impl KnownKeys {
    /// `models[m]` are model m's keys in table order (row 1 first).
    pub fn new(models: [&[i64]; 2]) -> KnownKeys {
        let mut ngrams = NgramTable::with_capacity(models[0].len() + models[1].len());
        let mut unigrams = Vec::new();
        for (model, keys) in models.iter().enumerate() {
            for (index, &key) in keys.iter().enumerate() {
                // Row numbers fit: a table of 2^32 rows would not load.
                let row = index as u32 + 1;
                if let Some(slot) = unigram_slot(key) {
                    if unigrams.len() <= slot {
                        unigrams.resize(slot + 1, Rows::default());
                    }
                    unigrams[slot][model] = row;
                } else if key != 0 {
                    ngrams.entry(key)[model] = row;
                }
            }
        }
        KnownKeys { unigrams, ngrams }
    }

    pub fn rows(&self, key: Option<i64>) -> Rows {
        let Some(key) = key else {
            return Rows::default();
        };
        match unigram_slot(key) {
            Some(slot) => self.unigrams.get(slot).copied().unwrap_or_default(),
            None => self.ngrams.get(key),
        }
    }
}

/// The known-key rows of every n-gram of a token sequence, by kind and
/// position: what a model row's input is cut from.
#[derive(Debug, Default, Clone)]
pub struct SequenceRows {
    /// `uni[p]`, `bi[p]`, `tri[p]`: the n-gram starting at position `p`.
    pub uni: Vec<Rows>,
    pub bi: Vec<Rows>,
    pub tri: Vec<Rows>,
}

impl SequenceRows {
    /// Characters (`trigrams`) or words.
    pub fn of(known: &KnownKeys, ids: &[u32], kinds: [Kind; 3], trigrams: bool) -> SequenceRows {
        let id = |p: usize| ids.get(p).copied().unwrap_or(0);
        let positions = 0..ids.len();
        let bigrams: Vec<i64> = positions
            .clone()
            .map(|p| bigram(id(p), id(p + 1), kinds[1]).unwrap_or(0))
            .collect();
        let trigrams: Vec<i64> = if trigrams {
            positions
                .clone()
                .map(|p| trigram(id(p), id(p + 1), id(p + 2), kinds[2]).unwrap_or(0))
                .collect()
        } else {
            Vec::new()
        };
        SequenceRows {
            uni: positions
                .map(|p| known.rows(unigram(id(p), kinds[0])))
                .collect(),
            // Neither kind is a unigram: both go to the table.
            bi: known.ngrams.get_all(&bigrams),
            tri: known.ngrams.get_all(&trigrams),
        }
    }

    /// Each kind's rows with how far its n-grams reach past their start.
    fn by_reach(&self) -> [(&[Rows], usize); 3] {
        [(&self.uni, 0), (&self.bi, 1), (&self.tri, 2)]
    }

    /// Appends, for `model`, the rows of the n-grams that lie inside
    /// `[start, end)`, in key order (unigrams, bigrams, trigrams; by
    /// position), unknown keys left out.
    pub fn push_known(&self, model: usize, start: usize, end: usize, out: &mut Vec<i64>) {
        for (rows, reach) in self.by_reach() {
            // An n-gram reaching `reach` tokens past its start must start before this.
            let limit = end.saturating_sub(reach).min(rows.len());
            push_rows(model, &rows[start.min(limit)..limit], out);
        }
    }

    /// Appends, for `model`, the rows of the n-grams of the whole sequence
    /// that contain a separator (at `separators`, ascending): with the
    /// rows of each span between separators ([`SequenceRows::push_known`]),
    /// the rows of the whole sequence, each once.
    pub fn push_known_across(
        &self,
        model: usize,
        separators: impl Iterator<Item = usize> + Clone,
        out: &mut Vec<i64>,
    ) {
        for (rows, reach) in self.by_reach() {
            // The same limit as `push_known` over the whole sequence.
            let limit = self.uni.len().saturating_sub(reach).min(rows.len());
            // Starts already taken: an n-gram spanning two separators
            // (around an empty span) counts once.
            let mut taken = 0;
            for separator in separators.clone() {
                let first = separator.saturating_sub(reach).max(taken);
                let end = (separator + 1).min(limit);
                if first < end {
                    push_rows(model, &rows[first..end], out);
                }
                taken = taken.max(end);
            }
        }
    }
}

/// Appends `model`'s known rows of `rows`. Every row is written and the
/// length advanced only past known ones: whether a key is known is a coin
/// toss the branch predictor lost (a filtered extend took 3.2 % of
/// `classify`'s CPU, this 2.0 %).
fn push_rows(model: usize, rows: &[Rows], out: &mut Vec<i64>) {
    let mut length = out.len();
    out.resize(length + rows.len(), 0);
    for pair in rows {
        let row = pair[model];
        out[length] = i64::from(row);
        length += usize::from(row > 0);
    }
    out.truncate(length);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hashing_py_s() {
        // Values printed by models/training/hashing.py: ngram_keys over
        // [[5, 999_999, 123_456]] and [[999_999, 999_998, 999_997]] with
        // kinds (0, 1, 2), and over [[999_999]] with kinds (3, 4, None).
        assert_eq!(unigram(5, Kind::CharUni), Some(40));
        assert_eq!(unigram(0, Kind::CharUni), None);
        assert_eq!(bigram(5, 999_999, Kind::CharBi), Some(48_000_113));
        assert_eq!(bigram(7, 0, Kind::WordBi), None);
        assert_eq!(
            trigram(5, 999_999, 123_456, Kind::CharTri),
            Some(4_019_791_880_426)
        );
        assert_eq!(
            trigram(999_999, 999_998, 999_997, Kind::CharTri),
            Some(1_396_974_835_858)
        );
        assert_eq!(unigram(999_999, Kind::WordUni), Some(7_999_995));
    }

    fn keys_file(keys: &[i64]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend((keys.len() as u64).to_le_bytes());
        for key in keys {
            bytes.extend(key.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn keys_files_are_checked() {
        let bytes = keys_file(&[3, 9, 40]);
        let digest = hex::encode(Sha256::digest(&bytes));
        assert_eq!(parse_keys(&bytes, &digest).expect("valid"), [3, 9, 40]);
        assert!(matches!(
            parse_keys(&bytes, "00"),
            Err(KeysError::Digest { .. })
        ));
        let unsorted = keys_file(&[3, 3]);
        let digest = hex::encode(Sha256::digest(&unsorted));
        assert!(matches!(
            parse_keys(&unsorted, &digest),
            Err(KeysError::Unsorted(1))
        ));
        let short = &bytes[..bytes.len() - 1];
        let digest = hex::encode(Sha256::digest(short));
        assert!(matches!(
            parse_keys(short, &digest),
            Err(KeysError::Length { .. })
        ));
    }

    #[test]
    fn the_table_finds_every_key_and_nothing_else() {
        // Keys that share home slots (a table of 2,048 slots for 1,200
        // keys) and keys of either model or both, against a std map.
        let mut reference = std::collections::HashMap::new();
        let mut table = NgramTable::with_capacity(1_200);
        for index in 0..1_200u32 {
            let key = i64::from(index) * 7_919 * 8 + Kind::CharBi as i64;
            let model = (index % 3) as usize;
            let rows: Rows = match model {
                2 => [index + 1, index + 2],
                model => {
                    let mut rows = Rows::default();
                    rows[model] = index + 1;
                    rows
                }
            };
            for (model, &row) in rows.iter().enumerate() {
                if row > 0 {
                    table.entry(key)[model] = row;
                }
            }
            reference.insert(key, rows);
        }
        let mut probes: Vec<i64> = reference.keys().copied().collect();
        probes.extend((0..500).map(|i| i * 13 + Kind::CharTri as i64));
        probes.push(0);
        let expected: Vec<Rows> = probes
            .iter()
            .map(|key| reference.get(key).copied().unwrap_or_default())
            .collect();
        assert_eq!(table.get_all(&probes), expected);
        for (key, rows) in probes.iter().zip(&expected) {
            assert_eq!(table.get(*key), *rows);
        }
    }

    #[test]
    fn spans_and_crossings_make_up_the_whole_sequence() {
        // Every n-gram of a small alphabet known to both models (rows by
        // key), separators (id 9) anywhere, empty spans included: the rows
        // of the spans between separators plus the crossing rows are the
        // whole sequence's rows, as multisets.
        let alphabet = [1u32, 2, 3, 9];
        let mut keys = Vec::new();
        for &a in &alphabet {
            keys.extend(unigram(a, Kind::CharUni));
            for &b in &alphabet {
                keys.extend(bigram(a, b, Kind::CharBi));
                for &c in &alphabet {
                    keys.extend(trigram(a, b, c, Kind::CharTri));
                }
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let known = KnownKeys::new([&keys, &keys[..keys.len() / 2]]);
        let kinds = [Kind::CharUni, Kind::CharBi, Kind::CharTri];
        let mut state = 0x2545_f491_u32;
        let mut next = |bound: u32| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state % bound
        };
        for _ in 0..500 {
            let length = next(12) as usize;
            let ids: Vec<u32> = (0..length).map(|_| alphabet[next(4) as usize]).collect();
            let separators: Vec<usize> = (0..length).filter(|&p| ids[p] == 9).collect();
            let rows = SequenceRows::of(&known, &ids, kinds, true);
            for model in 0..2 {
                let mut whole = Vec::new();
                rows.push_known(model, 0, length, &mut whole);
                let mut parts = Vec::new();
                let mut start = 0;
                for &end in separators.iter().chain([&length]) {
                    rows.push_known(model, start, end, &mut parts);
                    start = end + 1;
                }
                rows.push_known_across(model, separators.iter().copied(), &mut parts);
                whole.sort_unstable();
                parts.sort_unstable();
                assert_eq!(whole, parts, "{ids:?}, model {model}");
            }
        }
    }

    #[test]
    fn rows_of_a_span_leave_out_unknown_keys_and_boundary_ngrams() {
        // Model 0 knows the unigram of 2 and the bigram 2-3; model 1 the
        // trigram 1-2-3 only.
        let uni2 = unigram(2, Kind::CharUni).unwrap();
        let bi23 = bigram(2, 3, Kind::CharBi).unwrap();
        let tri123 = trigram(1, 2, 3, Kind::CharTri).unwrap();
        let mut model0 = vec![uni2, bi23];
        model0.sort();
        let known = KnownKeys::new([&model0, &[tri123]]);
        let kinds = [Kind::CharUni, Kind::CharBi, Kind::CharTri];
        let rows = SequenceRows::of(&known, &[1, 2, 3], kinds, true);
        let row = |key| model0.iter().position(|&k| k == key).unwrap() as i64 + 1;
        let mut out = Vec::new();
        rows.push_known(0, 0, 3, &mut out);
        assert_eq!(out, [row(uni2), row(bi23)]);
        out.clear();
        rows.push_known(1, 0, 3, &mut out);
        assert_eq!(out, [1]);
        // [1, 2] alone: the bigram 2-3 and the trigram cross its end.
        out.clear();
        rows.push_known(0, 0, 2, &mut out);
        assert_eq!(out, [row(uni2)]);
        out.clear();
        rows.push_known(1, 0, 2, &mut out);
        assert!(out.is_empty());
    }
}
