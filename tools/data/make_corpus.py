#!/usr/bin/env python3
"""make_corpus.py — freezes the repository's own prose into a small character corpus.

    python3 tools/data/make_corpus.py            # writes models/data/corpus.txt and corpus_vocab.txt

The text is README.md then docs/*.md (sorted by name), markdown stripped to plain text:
fenced and indented code blocks, HTML comments, table rulers and images dropped; links
reduced to their text; headings, emphasis, inline code marks and list bullets removed;
table cells joined by ", "; paragraphs re-flowed to one line each, separated by a
newline. Typography is mapped to ASCII (dashes, quotes, arrows, math signs) and any
other non-ASCII character dropped, so the vocabulary is a few dozen printable
characters and the newline. The gradc project ships it under its own license.

The split is by position: the first 90% of the characters train, the last 10%
validate (tools/data/char_windows.py --split train|val cuts the same way). The output
depends only on the input files: rerunning it on the same commit gives the same bytes.
It is frozen (committed) because the docs keep changing; rerun it deliberately.

corpus_vocab.txt: one line per character id, in id order (the sorted set of the
corpus's characters): the character's ASCII code, a space, and the character itself
(`\\n` for the newline)."""
import argparse, glob, math, os, re, sys
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "models", "data")
VAL_FRACTION = 0.1
ASCII = {"\u2014": " - ", "\u2013": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
         "\u2192": "->", "\u2190": "<-", "\u2264": "<=", "\u2265": ">=", "\u2260": "!=", "\u00d7": "x",
         "\u00b7": "*", "\u2026": "...", "\u2212": "-", "\u00b1": "+-", "\u221a": "sqrt", "\u2248": "~",
         "\u230a": "floor(", "\u230b": ")", "\u2208": "in", "\u00a0": " ", "\u2011": "-"}


def strip_inline(t):
    t = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", t)                    # images
    t = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", t)                 # links -> text
    t = re.sub(r"<[^>]+>", "", t)                                  # inline HTML
    t = t.replace("`", "")
    t = re.sub(r"(\*\*|__)(.+?)\1", r"\2", t)
    t = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)", r"\1", t)
    t = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", t)
    t = "".join(ASCII.get(c, c) for c in t)
    t = "".join(c for c in t if 32 <= ord(c) < 127)
    return re.sub(r"\s+", " ", t).strip()


def markdown_to_text(md):
    md = re.sub(r"<!--.*?-->", "", md, flags=re.S)
    paras, cur, fence = [], [], False
    for line in md.replace("\t", "    ").splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if fence or line.startswith("    ") and not cur:
            continue  # code: fenced, or indented after a blank line
        s = line.strip()
        if not s or re.match(r"^\|?[\s:|-]+\|[\s:|-]*$", s) or re.match(r"^(-{3,}|\*{3,})$", s):
            if cur:
                paras.append(" ".join(cur))
            cur = []
            continue
        if s.startswith("|"):  # a table row: one paragraph of its cells
            if cur:
                paras.append(" ".join(cur))
            paras.append(", ".join(c.strip() for c in s.strip("|").split("|") if c.strip()))
            cur = []
            continue
        s = re.sub(r"^#+\s*", "", s)
        s = re.sub(r"^([-*+]|\d+\.)\s+", "", s)
        if s.startswith(">"):
            s = s.lstrip("> ")
        if re.match(r"^#+\s", line) or re.match(r"^\s*([-*+]|\d+\.)\s", line):
            if cur:
                paras.append(" ".join(cur))
            cur = []
        cur.append(s)
    if cur:
        paras.append(" ".join(cur))
    return "\n".join(p for p in (strip_inline(p) for p in paras) if p)


def sources():
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def entropy(text):
    n, counts = len(text), Counter(text)
    return -sum(c / n * math.log(c / n) for c in counts.values())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DATA)
    a = ap.parse_args()
    text = "\n".join(markdown_to_text(open(p, encoding="utf-8").read()) for p in sources()) + "\n"
    vocab = sorted(set(text))
    with open(os.path.join(a.out, "corpus.txt"), "w", newline="\n") as f:
        f.write(text)
    with open(os.path.join(a.out, "corpus_vocab.txt"), "w", newline="\n") as f:
        for c in vocab:
            f.write("%d %s\n" % (ord(c), "\\n" if c == "\n" else c))
    cut = int(len(text) * (1 - VAL_FRACTION))
    train, val = text[:cut], text[cut:]
    counts = Counter(train)
    cross = -sum(math.log(counts.get(c, 0.5) / len(train)) for c in val) / len(val)
    print("corpus.txt: %d characters (train %d, val %d), vocabulary %d" % (len(text), len(train), len(val), len(vocab)))
    print("unigram baseline on val: entropy %.4f nats/char; cross-entropy under train's frequencies %.4f"
          % (entropy(val), cross))
    return 0


if __name__ == "__main__":
    sys.exit(main())
