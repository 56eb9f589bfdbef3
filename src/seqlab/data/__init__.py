"""Data layer: vocabularies, tokenizers, data set files and their readers, batching.

- ``vocab``: ``Vocab`` (specials ``<pad>``=0 ``<unk>``=1 ``<bos>``=2 ``<eos>``=3, JSON).
- ``tokenizers``: ``CharTokenizer``, ``WordTokenizer``, ``SubwordTokenizer``
  (sentencepiece), ``build_tokenizer(kind, **kwargs)``.
- ``datasets``: ``DATASETS`` (file, URL, sha256), ``locate``, readers returning plain
  Python data.
- ``batching`` (the only module here that uses torch): ``batchify``,
  ``tbptt_batches``, ``LMBatch``, ``pad_sequences``, ``bucket_batches``;
  ``LabelBatch`` (classify), ``TagBatch`` + ``pad_chars`` (tag), ``WindowBatch``
  (forecast).
"""

from seqlab.data.batching import (
    LabelBatch,
    LMBatch,
    TagBatch,
    WindowBatch,
    batchify,
    bucket_batches,
    num_tbptt_batches,
    pad_chars,
    pad_sequences,
    tbptt_batches,
)
from seqlab.data.datasets import (
    DATASETS,
    DataError,
    DatasetNotFoundError,
    DatasetSpec,
    locate,
    resolve_data_dir,
)
from seqlab.data.readers import (
    parse_conll,
    read_brown,
    read_conll2000,
    read_conll2002,
    read_labelled_text,
    read_lines,
    read_movie_reviews,
    read_parallel,
    read_sentence_polarity,
    read_seq2seq_toy,
    read_sunspots,
    read_tang,
    read_text_file,
    read_tinyshakespeare,
)
from seqlab.data.tokenizers import (
    CharTokenizer,
    SubwordTokenizer,
    Tokenizer,
    WordTokenizer,
    build_tokenizer,
)
from seqlab.data.vocab import Vocab

__all__ = [
    "DATASETS",
    "CharTokenizer",
    "DataError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "LMBatch",
    "LabelBatch",
    "SubwordTokenizer",
    "TagBatch",
    "Tokenizer",
    "Vocab",
    "WindowBatch",
    "WordTokenizer",
    "batchify",
    "bucket_batches",
    "build_tokenizer",
    "locate",
    "num_tbptt_batches",
    "pad_chars",
    "pad_sequences",
    "parse_conll",
    "read_brown",
    "read_conll2000",
    "read_conll2002",
    "read_labelled_text",
    "read_lines",
    "read_movie_reviews",
    "read_parallel",
    "read_sentence_polarity",
    "read_seq2seq_toy",
    "read_sunspots",
    "read_tang",
    "read_text_file",
    "read_tinyshakespeare",
    "resolve_data_dir",
    "tbptt_batches",
]
