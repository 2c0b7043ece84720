#!/usr/bin/env python3
"""Draw the review ids that the project annotates by hand (models/labels/).

Weighted toward negative reviews and toward the categories customer-service
teams see most; never draws an id from ../shared/eval/dev.jsonl, which is
kept for measurement only. Deterministic: the same corpus gives the same ids.

usage: sample_for_annotation.py CORPUS DEV OUT_DIR [--batches 4 --per-batch 500]
                                [--after-existing] [--missed PRED --missed-share 0.75]

--after-existing draws new batches from the ids that no existing
OUT_DIR/batch*.ids holds, numbered after the last one, with a seed of its own,
so earlier batches (already labelled) stay as they are.

--missed PRED (a `xinsheng classify` output over CORPUS) draws --missed-share
of the ids from negative reviews in which PRED found no negative issue: where
the tagger's misses of paraphrased complaints hide, beside the generic
complaints that rightly carry no tag. The rest is drawn as usual. The new
batches' names are added to OUT_DIR/drawn_from_misses.txt, which train.py
reads: thresholds are not picked on such batches.
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
    ap.add_argument("--missed", help="a classify output over CORPUS")
    ap.add_argument("--missed-share", type=float, default=0.75)
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
    no_negative_issue = set()
    if args.missed:
        for line in open(args.missed, encoding="utf-8"):
            o = json.loads(line)
            if not any(t["polarity"] == "neg" for t in o["tags"]):
                no_negative_issue.add(o["id"])
    pools = collections.defaultdict(list)
    missed_pools = collections.defaultdict(list)
    for line in open(args.corpus, encoding="utf-8"):
        o = json.loads(line)
        if o["id"] in excluded or not (4 <= len(o["text"]) <= 160):
            continue
        if o["label"] == 0 and o["id"] in no_negative_issue:
            missed_pools[o["category"]].append(o["id"])
        else:
            pools[(o["category"], o["label"])].append(o["id"])
    rng = random.Random(args.seed)
    total = args.batches * args.per_batch
    missed_total = round(total * args.missed_share) if args.missed else 0
    chosen = []
    for cat, w in CATEGORY_WEIGHT.items():
        pool = sorted(missed_pools[cat])
        chosen += rng.sample(pool, min(len(pool), round(missed_total * w)))
        for label, share in ((0, NEGATIVE_SHARE), (1, 1 - NEGATIVE_SHARE)):
            pool = sorted(pools[(cat, label)])
            n = min(len(pool), round((total - missed_total) * w * share))
            chosen += rng.sample(pool, n)
    rng.shuffle(chosen)
    out.mkdir(parents=True, exist_ok=True)
    for b in range(args.batches):
        ids = chosen[b * args.per_batch:(b + 1) * args.per_batch]
        name = f"batch{first_batch + b}.ids"
        (out / name).write_text("\n".join(ids) + "\n", encoding="utf-8")
        print(f"{name}: {len(ids)} ids")
    if args.missed:
        with open(out / "drawn_from_misses.txt", "a", encoding="utf-8") as manifest:
            manifest.write("".join(f"batch{first_batch + b}\n" for b in range(args.batches)))


if __name__ == "__main__":
    main()
