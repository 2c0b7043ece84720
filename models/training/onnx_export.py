"""Writes the linear n-gram models as ONNX graphs.

Graph (both models):
  char_ids [N, Lc], word_ids [N, Lw]  (int64, 0 = padding)
  -> n-gram keys, exactly as hashing.py computes them
  -> LabelEncoder: key -> row of the weight table (unknown keys -> row 0, all zeros)
  -> Gather rows [N, K, O + 1] and sum over K
  -> logits = sum[:, :O] / sqrt(sum[:, O]) + extra @ U + b  (column O holds idf**2,
     so the division is the L2 normalisation of the idf-weighted bag)
  -> probs = sigmoid(logits)
The tagger has an extra input `lexicon` [N, S] (the rules' hits in the clause);
the sentiment model has none.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import hashing

OPSET = [helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)]


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

    def shifted(self, ids, by):
        """ids[:, by:] padded with zeros at the end, same shape as ids."""
        tail = self.op("Slice", [ids, self.const([by]), self.const([np.iinfo(np.int64).max]),
                                 self.const([1])])
        shape = self.op("Shape", [ids])
        rows = self.op("Slice", [shape, self.const([0]), self.const([1])])
        pad_shape = self.op("Concat", [rows, self.const([by])], axis=0)
        zeros = self.op("ConstantOfShape", [pad_shape],
                        value=helper.make_tensor("v", TensorProto.INT64, [1], [0]))
        return self.op("Concat", [tail, zeros], axis=1)

    def ngram_keys(self, ids, kinds):
        uni_kind, bi_kind, tri_kind = kinds
        zero, eight, minus = self.const(0), self.const(8), self.const(hashing.NO_KEY)
        p = self.const(hashing.P)
        a = ids
        b = self.shifted(ids, 1)
        a_ok = self.op("Greater", [a, zero])
        b_ok = self.op("Greater", [b, zero])
        ab_ok = self.op("And", [a_ok, b_ok])
        uni = self.op("Add", [self.op("Mul", [a, eight]), self.const(uni_kind)])
        ab = self.op("Add", [self.op("Mul", [a, p]), b])
        bi = self.op("Add", [self.op("Mul", [ab, eight]), self.const(bi_kind)])
        outs = [self.op("Where", [a_ok, uni, minus]), self.op("Where", [ab_ok, bi, minus])]
        if tri_kind is not None:
            c = self.shifted(ids, 2)
            q = self.const(hashing.Q)
            abc_ok = self.op("And", [ab_ok, self.op("Greater", [c, zero])])
            tri = self.op("Mod", [self.op("Add", [self.op("Mul", [self.op("Mod", [ab, q]), p]), c]), q])
            tri = self.op("Add", [self.op("Mul", [tri, eight]), self.const(tri_kind)])
            outs.append(self.op("Where", [abc_ok, tri, minus]))
        return outs


def _ngram_logits(g, keys, table, bias):
    """The shared front: ids -> keys -> rows -> normalised linear scores + bias."""
    keys = np.asarray(keys, dtype=np.int64)
    table = np.asarray(table, dtype=np.float32)
    outputs = table.shape[1] - 1
    inputs = [helper.make_tensor_value_info("char_ids", TensorProto.INT64, ["n", "lc"]),
              helper.make_tensor_value_info("word_ids", TensorProto.INT64, ["n", "lw"])]
    key_parts = g.ngram_keys("char_ids", (hashing.KIND_CHAR_UNI, hashing.KIND_CHAR_BI, hashing.KIND_CHAR_TRI))
    key_parts += g.ngram_keys("word_ids", (hashing.KIND_WORD_UNI, hashing.KIND_WORD_BI, None))
    all_keys = g.op("Concat", key_parts, axis=1)
    rows = g.op("LabelEncoder", [all_keys], domain="ai.onnx.ml",
                keys_int64s=keys.tolist(), values_int64s=list(range(1, len(keys) + 1)),
                default_int64=0)
    full_table = np.vstack([np.zeros((1, table.shape[1]), np.float32), table])
    gathered = g.op("Gather", [g.const(full_table.astype(np.float16), np.float16), rows], axis=0)
    summed = g.op("ReduceSum", [g.op("Cast", [gathered], to=TensorProto.FLOAT), g.const([1])], keepdims=0)
    scores = g.op("Slice", [summed, g.const([0]), g.const([outputs]), g.const([1])])
    norm2 = g.op("Slice", [summed, g.const([outputs]), g.const([outputs + 1]), g.const([1])])
    norm = g.op("Sqrt", [g.op("Max", [norm2, g.const([1e-6], np.float32)])])
    logits = g.op("Add", [g.op("Div", [scores, norm]), g.const(np.asarray(bias, np.float32), np.float32)])
    return logits, inputs, outputs


def _save(g, inputs, outputs, path, metadata):
    graph = helper.make_graph(g.nodes, "xinsheng_linear_ngram", inputs, outputs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="xinsheng-training")
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def linear_ngram_model(path, keys, table, bias, metadata=None):
    """The sentiment model. keys: sorted int64 [F]; table: float32 [F, O]
    weights already multiplied by idf, with idf**2 appended as column O;
    bias [O]. Output `probs` [N, O]."""
    g = GraphBuilder()
    logits, inputs, outputs = _ngram_logits(g, keys, table, bias)
    g.nodes.append(helper.make_node("Sigmoid", [logits], ["probs"]))
    _save(g, inputs, [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", outputs])], path, metadata)


def tagger_model(path, keys, table, bias, lexicon_weights, mention_weights, polarity_coef, polarity_bias,
                 metadata=None):
    """The clause tagger.

    Inputs: char_ids, word_ids, lexicon [N, T * 3] (the rules' tag:polarity
    hits in the clause, tag-major, polarities neg/pos/neu), clause_sentiment
    [N, 1] (the sentiment model's probability for the clause), mentions [N, T]
    (the tags whose words occur in the clause).
    Outputs: tag_probs [N, T] = sigmoid(n-gram scores + lexicon @ W + mentions @ M + b);
    polarity_probs [N, T, 3] = softmax over neg/pos/neu of a small model
    shared by all tags, fed [the tag's 3 rule hits, s, s * (no rule hit)]
    with s = logit(clause_sentiment)."""
    g = GraphBuilder()
    logits, inputs, tags = _ngram_logits(g, keys, table, bias)
    inputs.append(helper.make_tensor_value_info("lexicon", TensorProto.FLOAT, ["n", tags * 3]))
    inputs.append(helper.make_tensor_value_info("clause_sentiment", TensorProto.FLOAT, ["n", 1]))
    inputs.append(helper.make_tensor_value_info("mentions", TensorProto.FLOAT, ["n", tags]))
    lexicon_weights = np.asarray(lexicon_weights, np.float32)
    logits = g.op("Add", [logits, g.op("MatMul", ["lexicon", g.const(lexicon_weights, np.float32)])])
    logits = g.op("Add", [logits, g.op("MatMul", ["mentions", g.const(np.asarray(mention_weights, np.float32),
                                                                       np.float32)])])
    g.nodes.append(helper.make_node("Sigmoid", [logits], ["tag_probs"]))

    lex3 = g.op("Reshape", ["lexicon", g.const([0, tags, 3])])
    p = g.op("Clip", ["clause_sentiment", g.const(1e-4, np.float32), g.const(1 - 1e-4, np.float32)])
    one = g.const(1.0, np.float32)
    s = g.op("Sub", [g.op("Log", [p]), g.op("Log", [g.op("Sub", [one, p])])])  # [N, 1]
    s3 = g.op("Unsqueeze", [s, g.const([2])])  # [N, 1, 1]
    no_hit = g.op("Sub", [one, g.op("ReduceMax", [lex3, g.const([2])], keepdims=1)])  # [N, T, 1]
    s_tags = g.op("Mul", [no_hit, s3])  # [N, T, 1]
    s_all = g.op("Add", [g.op("Mul", [no_hit, g.const(0.0, np.float32)]), s3])  # broadcast s to [N, T, 1]
    features = g.op("Concat", [lex3, s_all, s_tags], axis=2)  # [N, T, 5]
    coef = np.asarray(polarity_coef, np.float32)  # [3, 5]
    pol_logits = g.op("Add", [g.op("MatMul", [features, g.const(coef.T.copy(), np.float32)]),
                              g.const(np.asarray(polarity_bias, np.float32), np.float32)])
    g.nodes.append(helper.make_node("Softmax", [pol_logits], ["polarity_probs"], axis=2))
    _save(g, inputs, [helper.make_tensor_value_info("tag_probs", TensorProto.FLOAT, ["n", tags]),
                      helper.make_tensor_value_info("polarity_probs", TensorProto.FLOAT, ["n", tags, 3])],
          path, metadata)
