"""Central finite differences and the relative error they are judged by (shared by the tests)."""

import numpy as np


def numeric_grad(f, arr, eps=1e-6):
    """d f / d arr by central differences, entry by entry (arr is perturbed in place, restored)."""
    g = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + eps
        fp = f()
        arr[idx] = old - eps
        fm = f()
        arr[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


def rel_error(a, n):
    """||a - n|| / (||a|| + ||n||), the error of an analytic gradient against a numeric one."""
    return np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-30)


def assert_param_grads(grads: dict, params: dict, f) -> None:
    """Every analytic gradient against central differences of f: relative error below 1e-6 as a
    whole, and entry by entry with a floor above the differences' round-off (~1e-10)."""
    for k in params:
        num = numeric_grad(f, params[k])
        assert grads[k].shape == params[k].shape, k
        assert rel_error(grads[k], num) < 1e-6, k
        assert np.max(np.abs(grads[k] - num) / (np.abs(num) + 1e-6)) < 1e-4, k
