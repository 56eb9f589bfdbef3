"""Every model family seqlab trains, by the ``model.kind`` of a run config."""

from __future__ import annotations

from torch import nn

from seqlab.models.captioner import Captioner, CaptionerConfig
from seqlab.models.classifier import Classifier, ClassifierConfig
from seqlab.models.forecaster import (
    MLPRegressor,
    MLPRegressorConfig,
    RNNRegressor,
    RNNRegressorConfig,
)
from seqlab.models.lm import RNNLM, LMOutput, RNNLMConfig
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.models.tagger import Tagger, TaggerConfig
from seqlab.models.transformer import (
    Transformer,
    TransformerConfig,
    TransformerLM,
    TransformerLMConfig,
)

MODELS: dict[str, type[nn.Module]] = {
    "rnn_lm": RNNLM,
    "transformer_lm": TransformerLM,
    "classifier": Classifier,
    "tagger": Tagger,
    "rnn_regressor": RNNRegressor,
    "mlp_regressor": MLPRegressor,
    "seq2seq": Seq2Seq,
    "transformer": Transformer,
    "captioner": Captioner,
}

__all__ = [
    "MODELS",
    "RNNLM",
    "Captioner",
    "CaptionerConfig",
    "Classifier",
    "ClassifierConfig",
    "LMOutput",
    "MLPRegressor",
    "MLPRegressorConfig",
    "RNNLMConfig",
    "RNNRegressor",
    "RNNRegressorConfig",
    "Seq2Seq",
    "Seq2SeqConfig",
    "Tagger",
    "TaggerConfig",
    "Transformer",
    "TransformerConfig",
    "TransformerLM",
    "TransformerLMConfig",
    "build_model",
]


def build_model(cfg, **sizes: int) -> nn.Module:
    """The model ``cfg.kind`` names, built from its config and the data's sizes."""
    return MODELS[cfg.kind](cfg, **sizes)
