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
from seqlab.models.transformer_captioner import (
    TransformerCaptioner,
    TransformerCaptionerConfig,
)
from seqlab.models.transformer_classifier import (
    TransformerClassifier,
    TransformerClassifierConfig,
)
from seqlab.models.transformer_tagger import TransformerTagger, TransformerTaggerConfig

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

# Config class -> model class. ``model.kind`` names a model among its task's models
# (classify's ``transformer`` is not seq2seq's), so the config's class decides.
MODEL_OF_CONFIG: dict[type, type[nn.Module]] = {
    type_: model
    for type_, model in [
        (RNNLMConfig, RNNLM),
        (TransformerLMConfig, TransformerLM),
        (ClassifierConfig, Classifier),
        (TransformerClassifierConfig, TransformerClassifier),
        (TaggerConfig, Tagger),
        (TransformerTaggerConfig, TransformerTagger),
        (RNNRegressorConfig, RNNRegressor),
        (MLPRegressorConfig, MLPRegressor),
        (Seq2SeqConfig, Seq2Seq),
        (TransformerConfig, Transformer),
        (CaptionerConfig, Captioner),
        (TransformerCaptionerConfig, TransformerCaptioner),
    ]
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
    "TransformerCaptioner",
    "TransformerCaptionerConfig",
    "TransformerClassifier",
    "TransformerClassifierConfig",
    "TransformerConfig",
    "TransformerLM",
    "TransformerLMConfig",
    "TransformerTagger",
    "TransformerTaggerConfig",
    "build_model",
]


def build_model(cfg, **sizes: int) -> nn.Module:
    """The model of config ``cfg``, built from it and the data's sizes."""
    return MODEL_OF_CONFIG[type(cfg)](cfg, **sizes)
