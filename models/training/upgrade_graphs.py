#!/usr/bin/env python3
"""Rewrites models exported with the n-gram keys inside the graph (an
ai.onnx.ml LabelEncoder, before keys files) in the current format of
onnx_export.py, with their weights unchanged, and updates model.json.

usage: upgrade_graphs.py MODEL_DIR

Used once, on the models trained 2026-11-23: retraining them on today's
features would not reproduce them (the feature code changed since), so the
shipped weights were carried over instead. The version keeps its training
date and takes the digest of the new files, as train.py computes it.
"""
import hashlib, json, pathlib, sys

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import onnx_export  # noqa: E402


def parts(path):
    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers = lambda name: [n for n in graph.node if name in n.input]
    encoder = next(n for n in graph.node if n.op_type == "LabelEncoder")
    keys = np.array(next(a.ints for a in encoder.attribute if a.name == "keys_int64s"), np.int64)
    values = np.array(next(a.ints for a in encoder.attribute if a.name == "values_int64s"), np.int64)
    assert (values == np.arange(1, len(keys) + 1)).all() and (np.diff(keys) > 0).all()
    gather = next(n for n in graph.node if n.op_type == "Gather")
    table = inits[gather.input[0]].astype(np.float32)[1:]
    div = next(n for n in graph.node if n.op_type == "Div")
    bias_add = consumers(div.output[0])[0]
    bias = inits[next(i for i in bias_add.input if i in inits)]
    const = lambda node: inits[next(i for i in node.input if i in inits)]
    found = {"keys": keys, "table": table, "bias": bias}
    for node in graph.node:
        if node.op_type == "MatMul" and "lexicon" in node.input:
            found["lexicon_weights"] = const(node)
        elif node.op_type == "MatMul" and "mentions" in node.input:
            found["mention_weights"] = const(node)
        elif node.op_type == "MatMul" and producer.get(node.input[0], None) is not None \
                and producer[node.input[0]].op_type == "Concat":
            found["polarity_coef"] = const(node).T
            found["polarity_bias"] = const(consumers(node.output[0])[0])
    return found


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    models = pathlib.Path(sys.argv[1])
    spec = json.loads((models / "model.json").read_text(encoding="utf-8"))
    sentiment_path = models / spec["sentiment"]["file"]
    tagger_path = models / spec["tagger"]["file"]
    s, t = parts(sentiment_path), parts(tagger_path)
    onnx_export.linear_ngram_model(sentiment_path, s["keys"], s["table"], s["bias"])
    onnx_export.tagger_model(tagger_path, t["keys"], t["table"], t["bias"], t["lexicon_weights"],
                             t["mention_weights"], t["polarity_coef"], t["polarity_bias"])
    digest = hashlib.sha256()
    for path in (models / spec["tokenizer"], sentiment_path, onnx_export.keys_path(sentiment_path), tagger_path,
                 onnx_export.keys_path(tagger_path)):
        digest.update(path.read_bytes())
    date = spec["version"].split("+")[0]
    spec["version"] = f"{date}+{digest.hexdigest()[:8]}"
    spec["sentiment"] = {"file": sentiment_path.name, "keys": onnx_export.keys_path(sentiment_path).name,
                         **{k: v for k, v in spec["sentiment"].items() if k != "file"}}
    spec["tagger"] = {"file": tagger_path.name, "keys": onnx_export.keys_path(tagger_path).name,
                      **{k: v for k, v in spec["tagger"].items() if k != "file"}}
    (models / "model.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{models}/model.json: {spec['version']}")


if __name__ == "__main__":
    main()
