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

