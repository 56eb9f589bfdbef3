import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from seqlab.data.batching import (
    LMBatch,
    batchify,
    bucket_batches,
    num_tbptt_batches,
    pad_sequences,
    tbptt_batches,
)

# ---------------------------------------------------------------- batchify / TBPTT


def test_batchify_streams_are_contiguous_and_drop_remainder():
    ids = list(range(23))
    streams = batchify(ids, 4)
    assert streams.shape == (4, 5) and streams.dtype == torch.long
    for b in range(4):
        assert streams[b].tolist() == ids[b * 5 : (b + 1) * 5]


def test_batchify_accepts_tensor():
    assert batchify(torch.arange(10), 2).tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


@pytest.mark.parametrize(("ids", "b"), [([1, 2, 3], 4), ([1, 2], 0), ([[1, 2]], 1)])
def test_batchify_rejects(ids, b):
    with pytest.raises(ValueError):
        batchify(ids, b)


@given(
    n=st.integers(2, 200),
    batch_size=st.integers(1, 8),
    bptt=st.integers(1, 40),
)
def test_tbptt_targets_are_inputs_shifted_across_batch_boundaries(n, batch_size, bptt):
    if n < batch_size:
        return
    ids = torch.arange(1000, 1000 + n)
    streams = batchify(ids, batch_size)
    batches = list(tbptt_batches(streams, bptt))
    assert len(batches) == num_tbptt_batches(streams, bptt)
    if streams.size(1) < 2:
        assert batches == []
        return
    # concatenated over batches: inputs = streams[:, :-1], targets = streams[:, 1:]
    inputs = torch.cat([x.input for x in batches], dim=1)
    targets = torch.cat([x.target for x in batches], dim=1)
    assert torch.equal(inputs, streams[:, :-1])
    assert torch.equal(targets, streams[:, 1:])
    for x in batches:
        assert x.input.shape == x.target.shape and x.input.size(1) <= bptt
        assert x.num_tokens == x.target.numel()
        # target t is the token after input t, also at the batch's last column
        assert torch.equal(x.target[:, :-1], x.input[:, 1:])
    for prev, nxt in itertools.pairwise(batches):
        # the next batch starts with the token the previous one last predicted
        assert torch.equal(nxt.input[:, 0], prev.target[:, -1])


def test_tbptt_keeps_short_last_batch():
    streams = batchify(list(range(22)), 2)  # (2, 11): 10 targets per stream
    sizes = [x.input.size(1) for x in tbptt_batches(streams, 4)]
    assert sizes == [4, 4, 2]


def test_tbptt_rejects_bad_bptt():
    with pytest.raises(ValueError, match="bptt"):
        list(tbptt_batches(torch.zeros(2, 5, dtype=torch.long), 0))


def test_lm_batch_trainer_protocol():
    batch = next(tbptt_batches(batchify(list(range(12)), 2), 3))

    def model(input, targets):
        return input, targets

    got_input, got_targets = model(**batch.inputs(), targets=batch.targets)
    assert got_input.tolist() == [[0, 1, 2], [6, 7, 8]]
    assert got_targets.tolist() == [[1, 2, 3], [7, 8, 9]]
    moved = batch.to("cpu")
    assert isinstance(moved, LMBatch) and torch.equal(moved.input, batch.input)
    assert moved.num_tokens == 6


# ---------------------------------------------------------------- padding


def test_pad_sequences():
    padded, lengths = pad_sequences([[5, 6, 7], [8], []], pad_id=0)
    assert padded.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert lengths.tolist() == [3, 1, 0]
    assert padded.dtype == lengths.dtype == torch.long


def test_pad_sequences_max_len_pads_and_truncates():
    padded, lengths = pad_sequences([[5, 6, 7], [8]], pad_id=9, max_len=2)
    assert padded.tolist() == [[5, 6], [8, 9]]
    assert lengths.tolist() == [2, 1]
    padded, _ = pad_sequences([[5]], pad_id=9, max_len=3)
    assert padded.tolist() == [[5, 9, 9]]


def test_pad_sequences_rejects_empty_batch():
    with pytest.raises(ValueError):
        pad_sequences([], pad_id=0)


# ---------------------------------------------------------------- buckets


@given(
    lengths=st.lists(st.integers(0, 50), max_size=60),
    batch_size=st.integers(1, 10),
    shuffle=st.booleans(),
    seed=st.integers(0, 3),
)
def test_bucket_batches_cover_each_index_once(lengths, batch_size, shuffle, seed):
    batches = bucket_batches(lengths, batch_size, shuffle=shuffle, seed=seed)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert batches == bucket_batches(lengths, batch_size, shuffle=shuffle, seed=seed)


def test_bucket_batches_group_similar_lengths():
    lengths = [1, 9, 2, 8, 3, 7, 1, 9]
    batches = bucket_batches(lengths, 2)
    assert [[lengths[i] for i in b] for b in batches] == [
        [1, 1],
        [2, 3],
        [7, 8],
        [9, 9],
    ]


def test_bucket_batches_sort_pairs_by_the_first_length_then_the_second():
    # (target, source): a seq2seq batch pads its targets least
    lengths = [(5, 1), (2, 9), (5, 0), (2, 3)]
    assert bucket_batches(lengths, 2) == [[3, 1], [2, 0]]


def test_bucket_batches_shuffle_depends_on_seed():
    lengths = list(range(100))
    runs = {str(bucket_batches(lengths, 4, shuffle=True, seed=s)) for s in range(5)}
    assert len(runs) > 1
    # shuffling reorders whole batches, it does not mix lengths across buckets
    batch = bucket_batches(lengths, 4, shuffle=True, seed=1)[0]
    assert max(batch) - min(batch) == 3


@given(
    lengths=st.lists(st.integers(1, 30), min_size=1, max_size=60),
    max_tokens=st.integers(1, 100),
)
def test_bucket_batches_by_tokens_respects_budget(lengths, max_tokens):
    batches = bucket_batches(lengths, max_tokens, by_tokens=True)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        padded = len(b) * max(lengths[i] for i in b)
        assert padded <= max_tokens or len(b) == 1
