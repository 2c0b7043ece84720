#!/usr/bin/env python3
"""Reference predictions from the shipped model files, in Python.

usage: predict.py --xinsheng target/release/xinsheng --models models INPUT.jsonl > PRED.jsonl

Input lines {"id", "text"}; output lines {"id", "tags", "sentiment"} as
../shared/eval/score.py reads them. The Rust service must agree with this
(tests/model_tagger.rs compares both on fixed sentences); it exists so that
training changes can be measured before the service is rebuilt.
"""
import argparse, json, pathlib, sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import hashing  # noqa: E402
from train import decide, decided_polarities, item_tokens, no_bag, pad, read_jsonl, run_features  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--xinsheng", required=True)
    ap.add_argument("--models", default="models")
    ap.add_argument("--scratch", default="/tmp")
    args = ap.parse_args()
    models = pathlib.Path(args.models)
    spec = json.loads((models / "model.json").read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_file(str(models / spec["tokenizer"]))
    encode = lambda tokens: np.array(tokenizer.encode(tokens, is_pretokenized=True, add_special_tokens=False).ids
                                     if tokens else [], dtype=np.int64)
    sentiment = ort.InferenceSession(str(models / spec["sentiment"]["file"]), providers=["CPUExecutionProvider"])
    tagger = ort.InferenceSession(str(models / spec["tagger"]["file"]), providers=["CPUExecutionProvider"])
    polarity = ort.InferenceSession(str(models / spec["polarity"]["file"]), providers=["CPUExecutionProvider"])
    sentiment_keys = hashing.read_keys(models / spec["sentiment"]["keys"])
    tagger_keys = hashing.read_keys(models / spec["tagger"]["keys"])
    rows = lambda keys, seqs: pad([hashing.table_rows(keys, c, w) for c, w in seqs])
    tags = spec["tagger"]["tags"]
    lex_index = {name: k for k, name in enumerate(spec["tagger"]["lexicon_inputs"])}
    items = read_jsonl(args.input)
    clauses = run_features(args.xinsheng, items, pathlib.Path(args.scratch), "predict_input")
    for item in items:
        cl = clauses[item["id"]]
        chars, words = item_tokens(cl)
        item_seq = (encode(chars), encode(words))
        p = sentiment.run(["probs"], {"rows": rows(sentiment_keys, [item_seq])})[0][0, 0]
        record = {"id": item["id"], "sentiment": "pos" if p >= spec["sentiment"]["threshold"] else "neg", "tags": []}
        if cl:
            seqs = [(encode(c["chars"]), encode(c["words"])) for c in cl]
            cs = sentiment.run(["probs"], {"rows": rows(sentiment_keys, seqs)})[0][:, :1]
            lex = np.zeros((len(cl), len(lex_index)), np.float32)
            for k, c in enumerate(cl):
                for hit in c["lexicon"]:
                    if hit in lex_index:
                        lex[k, lex_index[hit]] = 1.0
            mentions = np.zeros((len(cl), len(tags)), np.float32)
            for k, c in enumerate(cl):
                for tag in c["mentions"]:
                    if tag in tags:
                        mentions[k, tags.index(tag)] = 1.0
            item_row = bool(spec["tagger"].get("item_rows"))
            if item_row:
                seqs.append(item_seq)
                lex = np.vstack([lex, lex.max(axis=0)])
                cs = np.vstack([cs, [[p]]]).astype(np.float32)
                mentions = np.vstack([mentions, mentions.max(axis=0)])
            table_rows = rows(tagger_keys, seqs)
            tag_p = tagger.run(["tag_probs"], {"rows": table_rows, "bag": no_bag(len(table_rows), len(tags)),
                                               "lexicon": lex, "mentions": mentions})[0]
            decided = decide(tag_p, tags, spec["tagger"]["thresholds"], item_row)
            polarities = decided_polarities(polarity, decided, table_rows, lex, cs, tags, item_row)
            record["tags"] = [{"tag": tags[t], "polarity": pol} for (t, _, _), pol in zip(decided, polarities)]
        print(json.dumps(record, ensure_ascii=False))


if __name__ == "__main__":
    main()
