"""Writes the linear n-gram models as ONNX graphs, each with its keys file.

The n-gram keys of a text (hashing.py) are computed by the caller, in Rust by
the service and in numpy by training; a key the model knows is fed as its row
of the weight table (hashing.table_rows), an unknown key not at all. The keys
file (`<model>.keys`, hashing.write_keys) lists the known keys in table order;
the graph records its SHA-256 (metadata `keys_sha256`) so that a graph is
never run with another model's keys.

Graph (both models):
  rows [N, K]  (int64, rows of known keys, 1-based; 0 = padding)
  -> Gather rows of the weight table (float16, cast whole) [N, K, O + 1], sum over K
  -> logits = sum[:, :O] / sqrt(sum[:, O]) + extra @ U + b  (column O holds idf**2,
     so the division is the L2 normalisation of the idf-weighted bag)
  -> probs = sigmoid(logits)
The tagger has extra inputs (the rules' findings in the clause, its
sentiment); the sentiment model has none.
"""
import hashlib, pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import hashing

OPSET = [helper.make_opsetid("", 18)]


class GraphBuilder:
    def __init__(self):
        self.nodes, self.inits, self.counter = [], [], 0

    def name(self, stem):
        self.counter += 1
        return f"{stem}_{self.counter}"

    def const(self, value, dtype=np.int64):
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type, inputs, domain="", **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], domain=domain, **attrs))
        return out


def keys_path(path):
    return pathlib.Path(path).with_suffix(".keys")


def _ngram_scores(g, table, rows, bag=None):
    """Table rows -> normalised linear scores [N, O] of the `rows` input, plus
    the bag's sum [N, O + 1] (the name of its node); `bag`: an input of sums
    [N, O + 1] of rows gathered before, added in."""
    table = np.asarray(table, dtype=np.float32)
    outputs = table.shape[1] - 1
    full_table = np.vstack([np.zeros((1, table.shape[1]), np.float32), table])
    # Stored as float16, cast whole (ONNX Runtime folds the cast at load),
    # so that each run gathers float32 rows instead of casting them one by one.
    table32 = g.op("Cast", [g.const(full_table.astype(np.float16), np.float16)], to=TensorProto.FLOAT)
    gathered = g.op("Gather", [table32, rows], axis=0)
    summed = g.op("ReduceSum", [gathered, g.const([1])], keepdims=0)
    if bag is not None:
        summed = g.op("Add", [summed, bag])
    scores = g.op("Slice", [summed, g.const([0]), g.const([outputs]), g.const([1])])
    norm2 = g.op("Slice", [summed, g.const([outputs]), g.const([outputs + 1]), g.const([1])])
    norm = g.op("Sqrt", [g.op("Max", [norm2, g.const([1e-6], np.float32)])])
    return g.op("Div", [scores, norm]), outputs, summed


def _ngram_logits(g, table, bias, bag=False):
    """The shared front: table rows (and, with `bag`, an input `bag` of sums
    gathered before) -> normalised linear scores + bias."""
    inputs = [helper.make_tensor_value_info("rows", TensorProto.INT64, ["n", "k"])]
    if bag:
        width = np.asarray(table).shape[1]
        inputs.append(helper.make_tensor_value_info("bag", TensorProto.FLOAT, ["n", width]))
    scores, outputs, summed = _ngram_scores(g, table, "rows", "bag" if bag else None)
    logits = g.op("Add", [scores, g.const(np.asarray(bias, np.float32), np.float32)])
    return logits, inputs, outputs, summed


def _save(g, inputs, outputs, path, keys, metadata, keys_of=None):
    """Writes the graph and its keys file; `keys_of`: the path of another
    graph whose keys file this one reads (none is written for it)."""
    keys_file = keys_path(keys_of or path)
    if keys_of is None:
        hashing.write_keys(keys_file, keys)
    metadata = dict(metadata or {})
    metadata["keys_sha256"] = hashlib.sha256(keys_file.read_bytes()).hexdigest()
    metadata["keys"] = len(keys)
    graph = helper.make_graph(g.nodes, "xinsheng_linear_ngram", inputs, outputs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="xinsheng-training")
    for key, value in sorted(metadata.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def linear_ngram_model(path, keys, table, bias, metadata=None):
    """The sentiment model. keys: sorted int64 [F], written to the keys file;
    table: float32 [F, O + 1] weights already multiplied by idf, with idf**2
    appended as column O; bias [O]. Output `probs` [N, O]."""
    g = GraphBuilder()
    logits, inputs, outputs, _ = _ngram_logits(g, table, bias)
    g.nodes.append(helper.make_node("Sigmoid", [logits], ["probs"]))
    _save(g, inputs, [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", outputs])], path, keys, metadata)


def tagger_model(path, keys, table, bias, lexicon_weights, mention_weights, metadata=None):
    """The clause tagger's tag scores. Inputs per row (a clause, or a whole
    item): rows, bag [N, T + 1] (the summed table rows of n-grams gathered
    before: a whole item's n-grams are its clauses' and those across their
    boundaries, so the service feeds an item the sums of its clauses, read
    from `bag_sums`, and gathers only the n-grams across; zeros for a row
    given whole), lexicon [N, T * 3] (the rules' tag:polarity hits in the
    row, tag-major, polarities neg/pos/neu), mentions [N, T] (the tags whose
    words occur in it). Outputs tag_probs [N, T] =
    sigmoid(n-gram scores + lexicon @ W + mentions @ M + b), and bag_sums
    [N, T + 1], the sum of the row's table rows and its bag."""
    g = GraphBuilder()
    logits, inputs, tags, summed = _ngram_logits(g, table, bias, bag=True)
    g.nodes.append(helper.make_node("Identity", [summed], ["bag_sums"]))
    inputs.append(helper.make_tensor_value_info("lexicon", TensorProto.FLOAT, ["n", tags * 3]))
    inputs.append(helper.make_tensor_value_info("mentions", TensorProto.FLOAT, ["n", tags]))
    lexicon_weights = np.asarray(lexicon_weights, np.float32)
    logits = g.op("Add", [logits, g.op("MatMul", ["lexicon", g.const(lexicon_weights, np.float32)])])
    logits = g.op("Add", [logits, g.op("MatMul", ["mentions", g.const(np.asarray(mention_weights, np.float32),
                                                                       np.float32)])])
    g.nodes.append(helper.make_node("Sigmoid", [logits], ["tag_probs"]))
    _save(g, inputs, [helper.make_tensor_value_info("tag_probs", TensorProto.FLOAT, ["n", tags]),
                      helper.make_tensor_value_info("bag_sums", TensorProto.FLOAT, ["n", tags + 1])],
          path, keys, metadata)


def polarity_model(path, tagger_path, keys, polarity_table, polarity_coef, polarity_bias, metadata=None):
    """The polarity of each tag decision; it reads the tagger's keys file
    (the n-grams are the tagger's). One row per decision (a tag, the clause
    that is its evidence and the item it is in): the graph scores only the
    decided tag, since callers never ask about the others (scoring all tags
    of each row was 22 times the work, in small broadcast operations that
    cost more than the n-grams). A graph of its own: ONNX Runtime runs every
    node of a graph whichever outputs are fetched.
    Inputs: evidence_rows [D, K] (the evidence clause's n-grams, as rows),
    item_hits [D, 3] and item_sentiment [D, 1] (the rules' neg/pos/neu hits
    of the decided tag in the whole item, and the sentiment model's
    probability for it), evidence_hits [D, 3] and evidence_sentiment [D, 1]
    (the same for the evidence clause).
    Output polarity_probs [D, 3] = softmax over neg/pos/neu of one model
    shared by all tags: the evidence clause's n-grams (polarity_table
    [F, 3 + 1], laid out as the tagger's table) plus, for the item and for
    the evidence clause, [the tag's 3 rule hits, s, s * (no rule hit)] with
    s = logit(sentiment), @ polarity_coef.T [10, 3]. The n-grams read how
    this customer says it ("能退吗" asks, it does not complain), which the
    review-level sentiment model cannot."""
    g = GraphBuilder()
    inputs = [helper.make_tensor_value_info("evidence_rows", TensorProto.INT64, ["d", "k"])]
    for part in ("item", "evidence"):
        inputs.append(helper.make_tensor_value_info(f"{part}_hits", TensorProto.FLOAT, ["d", 3]))
        inputs.append(helper.make_tensor_value_info(f"{part}_sentiment", TensorProto.FLOAT, ["d", 1]))
    one = g.const(1.0, np.float32)

    def five_features(part):
        """[D, 5]: the tag's 3 rule hits, s, s * (no rule hit)."""
        p = g.op("Clip", [f"{part}_sentiment", g.const(1e-4, np.float32), g.const(1 - 1e-4, np.float32)])
        s = g.op("Sub", [g.op("Log", [p]), g.op("Log", [g.op("Sub", [one, p])])])  # [D, 1]
        no_hit = g.op("Sub", [one, g.op("ReduceMax", [f"{part}_hits", g.const([1])], keepdims=1)])  # [D, 1]
        return [f"{part}_hits", s, g.op("Mul", [no_hit, s])]

    features = g.op("Concat", five_features("item") + five_features("evidence"), axis=1)  # [D, 10]
    coef = np.asarray(polarity_coef, np.float32)  # [3, 10]
    ngram_scores, _, _ = _ngram_scores(g, polarity_table, "evidence_rows")  # [D, 3]
    pol_logits = g.op("Add", [g.op("MatMul", [features, g.const(coef.T.copy(), np.float32)]), ngram_scores])
    pol_logits = g.op("Add", [pol_logits, g.const(np.asarray(polarity_bias, np.float32), np.float32)])
    g.nodes.append(helper.make_node("Softmax", [pol_logits], ["polarity_probs"], axis=1))
    _save(g, inputs, [helper.make_tensor_value_info("polarity_probs", TensorProto.FLOAT, ["d", 3])],
          path, keys, metadata, keys_of=tagger_path)
