"""seqlab: sequence models from the plain RNN to the Transformer.

The recurrent core::

    from seqlab import LSTM
    lstm = LSTM(input_size=32, hidden_size=64, num_layers=2, peephole=True)
    output, (h, c) = lstm(x, lengths=lengths)
"""

from seqlab.cells import GRUCell, LSTMCell, LSTMState, RNNCell
from seqlab.layers import GRU, LSTM, RNN, RecurrentOutput
from seqlab.utils import clip_grad_norm, detach, seed_everything

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "LSTMState",
    "RNNCell",
    "RecurrentOutput",
    "clip_grad_norm",
    "detach",
    "seed_everything",
]
