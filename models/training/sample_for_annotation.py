#!/usr/bin/env python3
"""Draw the review ids that the project annotates by hand (models/labels/).

Weighted toward negative reviews and toward the categories customer-service
teams see most; never draws an id from ../shared/eval/dev.jsonl, which is
kept for measurement only. Deterministic: the same corpus gives the same ids.

usage: sample_for_annotation.py CORPUS DEV OUT_DIR [--batches 4 --per-batch 500]
                                [--after-existing]

--after-existing draws new batches from the ids that no existing
OUT_DIR/batch*.ids holds, numbered after the last one, with a seed of its own,
so earlier batches (already labelled) stay as they are.
"""
import argparse, json, random, collections, pathlib

CATEGORY_WEIGHT = {"外卖": 0.20, "衣服": 0.14, "水果": 0.12, "洗发水": 0.10, "平板": 0.10,
                   "计算机": 0.08, "蒙牛": 0.07, "手机": 0.07, "书籍": 0.05, "热水器": 0.04, "酒店": 0.03}
NEGATIVE_SHARE = 0.6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus"); ap.add_argument("dev"); ap.add_argument("out_dir")
    ap.add_argument("--batches", type=int, default=4); ap.add_argument("--per-batch", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--after-existing", action="store_true")
    args = ap.parse_args()
    excluded = {json.loads(l)["id"] for l in open(args.dev, encoding="utf-8") if l.strip()}
    out = pathlib.Path(args.out_dir)
    first_batch = 1
    if args.after_existing:
        existing = sorted(out.glob("batch*.ids"))
        for path in existing:
            excluded |= set(path.read_text(encoding="utf-8").split())
        first_batch = len(existing) + 1
        args.seed += first_batch
    pools = collections.defaultdict(list)
    for line in open(args.corpus, encoding="utf-8"):
        o = json.loads(line)
        if o["id"] in excluded or not (4 <= len(o["text"]) <= 160):
            continue
        pools[(o["category"], o["label"])].append(o["id"])
    rng = random.Random(args.seed)
    total = args.batches * args.per_batch
    chosen = []
    for cat, w in CATEGORY_WEIGHT.items():
        for label, share in ((0, NEGATIVE_SHARE), (1, 1 - NEGATIVE_SHARE)):
            pool = sorted(pools[(cat, label)])
            n = min(len(pool), round(total * w * share))
            chosen += rng.sample(pool, n)
    rng.shuffle(chosen)
    out.mkdir(parents=True, exist_ok=True)
    for b in range(args.batches):
        ids = chosen[b * args.per_batch:(b + 1) * args.per_batch]
        name = f"batch{first_batch + b}.ids"
        (out / name).write_text("\n".join(ids) + "\n", encoding="utf-8")
        print(f"{name}: {len(ids)} ids")


if __name__ == "__main__":
    main()
