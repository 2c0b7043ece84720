"""N-gram feature keys: the one definition shared by training (numpy) and the
exported ONNX graphs (onnx_export.py builds the same arithmetic as graph ops).

A token sequence of vocabulary ids (0 = padding) yields, per position:
  unigram  key = id * 8 + kind
  bigram   key = (a * P + b) * 8 + kind
  trigram  key = ((a * P + b) % Q * P + c) % Q * 8 + kind
with kind 0/1 char uni/bigram, 2 char trigram, 3/4 word uni/bigram. Every
product stays below 2**63, so int64 arithmetic is exact in numpy and ONNX.
An n-gram that touches padding has no key (-1).
"""
import numpy as np

P = 1_000_003          # > any vocabulary id
Q = 1_099_511_627_689  # prime below 2**40: Q * P < 2**60
KIND_CHAR_UNI, KIND_CHAR_BI, KIND_CHAR_TRI, KIND_WORD_UNI, KIND_WORD_BI = range(5)
NO_KEY = -1


def ngram_keys(ids, kinds):
    """ids: int64 array [..., L]; kinds: (uni, bi, tri or None). Returns the
    keys of every n-gram, [..., L * n] with NO_KEY where padding is touched."""
    ids = np.asarray(ids, dtype=np.int64)
    uni_kind, bi_kind, tri_kind = kinds
    a = ids
    b = np.concatenate([ids[..., 1:], np.zeros_like(ids[..., :1])], axis=-1)
    out = [np.where(a > 0, a * 8 + uni_kind, NO_KEY)]
    out.append(np.where((a > 0) & (b > 0), (a * P + b) * 8 + bi_kind, NO_KEY))
    if tri_kind is not None:
        c = np.concatenate([ids[..., 2:], np.zeros_like(ids[..., :2])], axis=-1)
        tri = ((a * P + b) % Q * P + c) % Q * 8 + tri_kind
        out.append(np.where((a > 0) & (b > 0) & (c > 0), tri, NO_KEY))
    return np.concatenate(out, axis=-1)


def text_keys(char_ids, word_ids):
    """All keys of one text (1-D id arrays), padding-free."""
    keys = np.concatenate([
        ngram_keys(np.asarray(char_ids, dtype=np.int64), (KIND_CHAR_UNI, KIND_CHAR_BI, KIND_CHAR_TRI)),
        ngram_keys(np.asarray(word_ids, dtype=np.int64), (KIND_WORD_UNI, KIND_WORD_BI, None)),
    ])
    return keys[keys != NO_KEY]



def table_rows(known_keys, char_ids, word_ids):
    """The model input of one text: for each of its keys that is known (in
    `known_keys`, sorted), that key's row of the weight table, 1-based in
    key order (row 0 is the padding row); in text_keys order, unknown keys
    left out. The service computes the same in Rust (src/nlp/ngrams.rs)."""
    keys = text_keys(char_ids, word_ids)
    if len(known_keys) == 0:
        return np.zeros(0, np.int64)
    pos = np.minimum(np.searchsorted(known_keys, keys), len(known_keys) - 1)
    return (pos[known_keys[pos] == keys] + 1).astype(np.int64)


KEYS_MAGIC = b"XSKEYS01"


def write_keys(path, keys):
    """The known keys of a model, the table rows 1.. in order: magic, count
    (u64), keys (i64), little-endian."""
    keys = np.asarray(keys, dtype=np.int64)
    assert (np.diff(keys) > 0).all(), "keys must be sorted and unique"
    with open(path, "wb") as f:
        f.write(KEYS_MAGIC)
        f.write(np.uint64(len(keys)).astype("<u8").tobytes())
        f.write(keys.astype("<i8").tobytes())


def read_keys(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != KEYS_MAGIC:
        raise ValueError(f"{path}: not a keys file")
    count = int(np.frombuffer(data[8:16], "<u8")[0])
    keys = np.frombuffer(data[16:], "<i8").astype(np.int64)
    if len(keys) != count:
        raise ValueError(f"{path}: {len(keys)} keys, header says {count}")
    return keys
