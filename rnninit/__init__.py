"""rnninit: how weight initialisation shapes the forward signal and the backward gradient in RNNs.

The package has four layers, and imports point down only:

    rnninit.cli          the command line: parse, call one library function, render
    rnninit.experiment   config, run folders, training, compare, sweep, summarize
    rnninit.report       terminal tables and plots, drawn from plain data
    rnninit.core         NumPy only: cells, the BPTT engine, inits, tasks, statistics, theory

``init_params`` and ``bptt`` come from the core; ``train`` is loaded on first use, so that
``import rnninit`` (and ``import rnninit.core``) stays free of yaml, rich and matplotlib.
"""

from ._version import __version__
from .core.engine import BPTTResult, bptt, evaluate, forward
from .core.inits import init_params
from .errors import RnnInitError

__all__ = [
    "__version__",
    "RnnInitError",
    "BPTTResult",
    "bptt",
    "evaluate",
    "forward",
    "init_params",
    "train",
]


def __getattr__(name):
    if name == "train":
        from .experiment.training import train

        return train
    raise AttributeError(f"module 'rnninit' has no attribute {name!r}")
