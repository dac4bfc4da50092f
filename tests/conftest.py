import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests/naive_rnn.py is a shared reference


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mnist1d_cache(tmp_path_factory):
    """A cache folder holding MNIST-1D's arrays, generated once per test session."""
    from rnninit.experiment.mnist1d import load_mnist1d

    cache = tmp_path_factory.mktemp("mnist1d-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNINIT_CACHE", str(cache))
        load_mnist1d()
    return cache


@pytest.fixture()
def mnist1d_env(mnist1d_cache, monkeypatch):
    """RNNINIT_CACHE pointed at the session's MNIST-1D cache, for this test."""
    monkeypatch.setenv("RNNINIT_CACHE", str(mnist1d_cache))
    return mnist1d_cache
