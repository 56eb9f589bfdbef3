"""``seqlab bench generate``: greedy generation with the KV cache against recomputing
the whole prefix for every new token."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from seqlab.bench.timing import time_pair


@dataclass(frozen=True)
class GenerationRow:
    model: str
    new_tokens: int
    cached_tokens_per_s: float
    recompute_tokens_per_s: float
    speedup: float  # cached / recompute

    def to_dict(self) -> dict:
        return asdict(self)


def bench_generation(new_tokens: int = 256, repeats: int = 3) -> list[GenerationRow]:
    """Greedy decoding of a decoder-only Transformer (nanoGPT CPU size: 4 layers,
    4 heads, d 128): with the KV cache (seqlab.decode) vs recomputing the whole
    prefix for every new token."""
    from seqlab.decode import generate
    from seqlab.models.transformer import TransformerLM, TransformerLMConfig

    torch.manual_seed(0)
    model = TransformerLM(TransformerLMConfig(max_len=new_tokens + 1), 65).eval()
    prefix = torch.zeros(1, 1, dtype=torch.long)

    def cached() -> None:
        generate(model, prefix, new_tokens, greedy=True)

    @torch.no_grad()
    def recompute() -> None:
        seq = prefix
        for _ in range(new_tokens):
            nxt = model(seq).logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], 1)

    t_cached, t_full = time_pair(cached, recompute, repeats, warmup=1)
    return [
        GenerationRow(
            "transformer_lm d128 L4",
            new_tokens,
            new_tokens / t_cached,
            new_tokens / t_full,
            t_full / t_cached,
        )
    ]
