"""Every model family seqlab trains, by the ``model.kind`` of a run config."""

from __future__ import annotations

from torch import nn

from seqlab.models.lm import RNNLM, LMOutput, RNNLMConfig
from seqlab.models.transformer import TransformerLM, TransformerLMConfig

MODELS: dict[str, type[nn.Module]] = {
    "rnn_lm": RNNLM,
    "transformer_lm": TransformerLM,
}

__all__ = [
    "MODELS",
    "RNNLM",
    "LMOutput",
    "RNNLMConfig",
    "TransformerLM",
    "TransformerLMConfig",
    "build_model",
]


def build_model(cfg, **sizes: int) -> nn.Module:
    """The model ``cfg.kind`` names, built from its config and the data's sizes."""
    return MODELS[cfg.kind](cfg, **sizes)
