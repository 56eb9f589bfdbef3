"""Train word vectors offline with gensim's word2vec on NLTK corpora (zip files).

The vectors BENCHMARKS.md's MR rows use (`model.embeddings`), made without a
download: skip-gram, 128-d (MR's configured embedding size), window 5, words seen
at least twice, 10 epochs, one worker thread and a fixed seed:

    pip install 'seqlab[vectors]'
    python tools/word2vec_from_nltk.py $SEQLAB_DATA/nltk/movie_reviews.zip \\
        --out vectors/movie_reviews-w2v-128.txt

Every .txt member of each zip is read as one sentence per line, tokens separated by
whitespace (NLTK's movie_reviews is lowercased and tokenized as MR is). The output is
word2vec's text format with its "N D" header, which `model.embeddings` reads.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path


def sentences(zips: list[str]) -> list[list[str]]:
    """Whitespace-tokenized lines of every .txt file in the zips (blank lines go)."""
    out = []
    for path in zips:
        with zipfile.ZipFile(path) as z:
            for name in sorted(n for n in z.namelist() if n.endswith(".txt")):
                text = z.read(name).decode("utf-8", errors="replace")
                out += [line.split() for line in text.splitlines() if line.strip()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "zips", nargs="+", help="NLTK corpus zips, e.g. movie_reviews.zip"
    )
    parser.add_argument("--out", required=True, help="word2vec text file to write")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from gensim.models import Word2Vec  # the vectors extra

    corpus = sentences(args.zips)
    words = sum(len(s) for s in corpus)
    print(f"{len(corpus):,} sentences, {words:,} words")
    model = Word2Vec(
        corpus,
        vector_size=args.dim,
        window=5,
        min_count=args.min_count,
        sg=1,
        epochs=args.epochs,
        workers=1,
        seed=args.seed,
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    model.wv.save_word2vec_format(args.out, binary=False)
    print(f"{len(model.wv):,} vectors of {args.dim} written to {args.out}")


if __name__ == "__main__":
    main()
