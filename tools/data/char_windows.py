#!/usr/bin/env python3
"""char_windows.py — the character corpus as CSV rows for `gradc train`.

    python3 tools/data/char_windows.py --split train -T 32 -o corpus_train.csv
    python3 tools/data/char_windows.py --split val -T 32 -o corpus_val.csv

Each row is one window of the corpus (models/data/corpus.txt): T input character ids,
then the T target ids (the next character of each position), the columns of a model
with `input ids : i32[N, T]` (or f32) and `input next : i32[N, T]` in that order. Ids
index models/data/corpus_vocab.txt (the sorted set of the corpus's characters). The
split cuts the corpus by position as tools/data/make_corpus.py says: the first 90%
train, the last 10% validate. Windows start every --stride characters (default T, no
overlap); --limit keeps the first R rows. --one-hot writes each input id as V values
(0 or 1; an f32 [N, T, V] input, for a model that multiplies one-hot rows by a table instead
of using `embedding`). Deterministic: same arguments, same bytes."""
import argparse, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "models", "data")
VAL_FRACTION = 0.1  # as make_corpus.py


def read_vocab(path):
    return [chr(int(line.split(" ", 1)[0])) for line in open(path) if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.path.join(DATA, "corpus.txt"))
    ap.add_argument("--vocab", default=os.path.join(DATA, "corpus_vocab.txt"))
    ap.add_argument("--split", choices=["train", "val", "all"], default="train")
    ap.add_argument("-T", type=int, default=32, help="window length")
    ap.add_argument("--stride", type=int, help="characters between window starts (default T)")
    ap.add_argument("--limit", type=int, help="at most this many rows")
    ap.add_argument("--one-hot", action="store_true",
                    help="the inputs as T x V one-hot values (an f32 [N, T, V] input) instead of T ids")
    ap.add_argument("-o", "--out", default="-")
    a = ap.parse_args()
    text = open(a.corpus, newline="").read()
    ids = {c: i for i, c in enumerate(read_vocab(a.vocab))}
    cut = int(len(text) * (1 - VAL_FRACTION))
    text = {"train": text[:cut], "val": text[cut:], "all": text}[a.split]
    missing = sorted(set(text) - set(ids))
    if missing:
        sys.exit("char_windows.py: characters not in the vocabulary: %r" % "".join(missing))
    T, stride = a.T, a.stride or a.T
    out = sys.stdout if a.out == "-" else open(a.out, "w", newline="\n")
    rows = 0
    for s in range(0, len(text) - T, stride):
        if a.limit is not None and rows == a.limit:
            break
        window = [ids[c] for c in text[s:s + T + 1]]
        inputs = window[:-1]
        if a.one_hot:
            inputs = [int(i == k) for i in inputs for k in range(len(ids))]
        out.write(",".join(map(str, inputs + window[1:])) + "\n")
        rows += 1
    if out is not sys.stdout:
        out.close()
    print("char_windows.py: %d rows of %d + %d ids (%s split)" % (rows, T, T, a.split), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
