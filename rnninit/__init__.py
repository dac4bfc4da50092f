"""rnninit: how weight initialisation shapes the forward signal and the backward gradient in RNNs.

The numeric core (model, inits, tasks, stats, theory) is NumPy only; the experiment layer
(config, train, runs) writes run folders; the CLI renders on top. ``init_params`` and ``train``
are loaded on first use, so that ``import rnninit.model`` stays free of yaml and matplotlib.
"""

from .errors import RnnInitError
from .model import BPTTResult, bptt, evaluate, forward

__version__ = "0.1.0"

__all__ = ["RnnInitError", "BPTTResult", "bptt", "evaluate", "forward", "init_params", "train"]


def __getattr__(name):
    if name == "init_params":
        from .inits import init_params

        return init_params
    if name == "train":
        from .training import train

        return train
    raise AttributeError(f"module 'rnninit' has no attribute {name!r}")
