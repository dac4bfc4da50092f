"""Time one forward + backward step of the BPTT engine against references in the same process.

    python benchmarks/bench_bptt.py [--quick] [--json FILE] [--dtype float32|float64|both]

Implementations, each computing the loss and every gradient of one step on the same inputs:

    engine        rnninit.bptt(..., stats=False)
    engine+stats  rnninit.bptt(..., stats=True): the per-timestep statistics too
    naive         a min-char-rnn style loop written here: every operation (one-hot input,
                  matmuls, softmax, loss, all gradient accumulations) inside the time loop, but
                  each matmul over the whole batch (fairer than tests/naive_rnn.py, which also
                  loops over the batch elements in Python)
    torch         torch.nn.RNN(I, H, nonlinearity="tanh") + torch.nn.Linear(H, O) + loss, CPU,
                  same dtype, as many threads as NumPy's BLAS uses (skipped without torch);
                  nn.LSTM / nn.GRU for the gated rows (the engine's cell="lstm" / "gru")
    floor         the matrix products alone that the engine must issue (input gather or
                  projection, T recurrent products forward, the output product, the output
                  gradient product, T recurrent products backward, dWxh, dWhh, dWhy), no
                  elementwise work; for token ids dWxh is the dense product with the one-hot
                  inputs. For a gated cell with G gate blocks (lstm 4, gru 3) the recurrent
                  products are (B, H) x (H, G*H) forward and (B, G*H) x (G*H, H) backward, and
                  the input projection, dWxh and dWhh have G*H rows
    probe         the T-1 products of jac_sq's probe pass alone (B, G*H) x (G*H, H), the
                  part of a statistics step that an exact extra backward pass cannot avoid;
                  reported as probe% of engine, a floor under stats%

The gated rows (lstm, gru) have no naive loop: its column shows '-'.

Timing is interleaved (round-robin over the implementations, starting at a different one each
round); each time is the median over the rounds and each ratio the median over the rounds of
the ratio within a round. Before timing, the engine's loss and gradients are checked once
against the naive loop and torch.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    import rnninit
except ImportError:  # run from a checkout without installing: the repo root holds the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import rnninit
from rnninit.core import engine as model
from rnninit.core.cells import get_cell

try:
    import torch
except ImportError:
    torch = None

try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None

# (T, B, I, H, O, inputs, loss[, cell]): token ids with cross-entropy, or float inputs with mse;
# the cell is rnn (tanh) unless named
SHAPES = [
    (25, 1, 65, 100, 65, "tokens", "xent"),  # min-char-rnn's size
    (100, 32, 65, 128, 65, "tokens", "xent"),
    (100, 32, 65, 256, 65, "tokens", "xent"),
    (100, 64, 65, 512, 65, "tokens", "xent"),
    (200, 128, 1, 128, 1, "floats", "mse"),  # adding-task-like: one input, one output
    (100, 32, 65, 128, 65, "tokens", "xent", "lstm"),
    (200, 32, 1, 128, 1, "floats", "mse", "lstm"),
    (100, 32, 65, 128, 65, "tokens", "xent", "gru"),
    (200, 32, 1, 128, 1, "floats", "mse", "gru"),
]
PARAM_NAMES = model.PARAM_NAMES
TARGETS = {"engine/torch": 1.0, "engine/floor": 1.5, "stats %": 15.0}
CHECK_TOL = {"float32": 1e-4, "float64": 1e-10}  # max relative difference accepted


# ---------------------------------------------------------------------------------------------
# Problem: parameters and data, the same for every implementation
# ---------------------------------------------------------------------------------------------
def cell_of(shape) -> str:
    return shape[7] if len(shape) > 7 else "rnn"


def make_problem(shape, dtype, seed=0):
    T, B, I, H, O, inputs, loss = shape[:7]
    rng = np.random.default_rng(seed)

    def normal(*s, var=1.0):
        return (rng.standard_normal(s) * math.sqrt(var)).astype(dtype)

    # N(0, 1/fan_in), small nonzero biases so that their gradients are checked too
    specs = get_cell(cell_of(shape)).param_specs(I, H, O)
    params = {
        p.name: normal(*p.shape, var=1.0 / p.shape[1] if len(p.shape) == 2 else 0.01) for p in specs
    }
    if inputs == "tokens":
        x = rng.integers(0, I, size=(T, B))
        y = rng.integers(0, O, size=(T, B))
    else:
        x = normal(T, B, I)
        y = normal(T, B, O)
    return params, x, y, loss


# ---------------------------------------------------------------------------------------------
# The naive loop (min-char-rnn style, batched matmuls)
# ---------------------------------------------------------------------------------------------
def naive_step(params, x, y, loss):
    """Loss and gradients with every operation inside the time loop (tanh units)."""
    Wxh, Whh, Why, bh, by = (params[k] for k in PARAM_NAMES)
    T, B = y.shape[:2]
    H, I = Wxh.shape
    dtype = Whh.dtype
    eye = np.eye(I, dtype=dtype)
    rows = np.arange(B)
    n = T * B  # the loss is the mean over all positions
    xs, hs, ps = {}, {-1: np.zeros((B, H), dtype=dtype)}, {}
    L = 0.0
    for t in range(T):
        xs[t] = eye[x[t]] if x.ndim == 2 else x[t]  # (B, I) one-hot or float
        hs[t] = np.tanh(xs[t] @ Wxh.T + hs[t - 1] @ Whh.T + bh)
        o = hs[t] @ Why.T + by  # (B, O)
        if loss == "xent":
            e = np.exp(o - o.max(axis=1, keepdims=True))
            ps[t] = e / e.sum(axis=1, keepdims=True)
            L += -np.log(ps[t][rows, y[t]]).sum() / n
        else:
            ps[t] = o - y[t]
            L += (ps[t] ** 2).mean(axis=1).sum() / n
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dhnext = np.zeros((B, H), dtype=dtype)
    for t in reversed(range(T)):
        if loss == "xent":
            do = ps[t].copy()
            do[rows, y[t]] -= 1  # backprop into the softmax
            do /= n
        else:
            do = ps[t] * (2.0 / (n * ps[t].shape[1]))
        grads["Why"] += do.T @ hs[t]
        grads["by"] += do.sum(axis=0)
        dh = do @ Why + dhnext
        da = (1 - hs[t] * hs[t]) * dh  # backprop through tanh
        grads["bh"] += da.sum(axis=0)
        grads["Wxh"] += da.T @ xs[t]
        grads["Whh"] += da.T @ hs[t - 1]
        dhnext = da @ Whh
    return float(L), grads


# ---------------------------------------------------------------------------------------------
# The matrix-product floor
# ---------------------------------------------------------------------------------------------
def make_floor(params, x, y, loss, cell="rnn"):
    """The engine's matrix products alone, on realistic values taken from one engine step."""
    Wxh, Whh, Why = params["Wxh"], params["Whh"], params["Why"]
    cache = model.forward(params, x, cell=cell)
    _, dout = model.loss_and_dout(cache.out, y, None, loss)
    hs = cache.hs  # (T+1, B, H)
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    dH = (dout.reshape(T * B, -1) @ Why).reshape(T, B, H)
    dA, _ = model.backprop_through_time(params, cache, dH)  # (T, B, G*H)
    tokens = x.ndim == 2
    X = np.eye(Wxh.shape[1], dtype=Whh.dtype)[x.reshape(-1)] if tokens else x.reshape(T * B, -1)
    WxhT = np.ascontiguousarray(Wxh.T)
    WhhT = Whh.T if cell == "rnn" else np.ascontiguousarray(Whh.T)  # as each cell's step does
    hflat, dAflat, dout2 = hs[1:].reshape(T * B, H), dA.reshape(T * B, -1), dout.reshape(T * B, -1)

    def floor():
        if tokens:
            A = np.take(WxhT, x, axis=0)  # (T, B, G*H) input gather
        else:
            A = (X @ Wxh.T).reshape(T, B, -1)  # input projection
        for t in range(T):  # np.dot, as the engine's vanilla cell: ~0.25 us less per call than
            np.dot(hs[t], WhhT, out=A[t])  # matmul, the same numbers; recurrence forward
        out = hflat @ Why.T  # all outputs
        dHo = dout2 @ Why  # output gradient
        D = np.empty_like(hs[1:])
        for t in range(T - 1, -1, -1):
            np.dot(dA[t], Whh, out=D[t])  # recurrence backward
        dWhh = dAflat.T @ hs[:-1].reshape(T * B, H)
        dWhy = dout2.T @ hflat
        dWxh = dAflat.T @ X
        return out, dHo, dWhh, dWhy, dWxh

    return floor


def make_probe_floor(params, x, cell="rnn"):
    """The T-1 products of jac_sq's probe pass alone, issued as the cells issue them (np.dot for
    the vanilla cell, matmul for the gated ones), on values of the probe's shape."""
    Whh = params["Whh"]
    T, B = x.shape[:2]
    V = np.random.default_rng(1).standard_normal((T, B, Whh.shape[0])).astype(Whh.dtype)
    product = np.dot if cell == "rnn" else np.matmul

    def probe():
        for t in range(T - 1, 0, -1):
            out = product(V[t], Whh)
        return out

    return probe


# ---------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------
class TorchStep:
    """nn.RNN (nn.LSTM, nn.GRU) + nn.Linear + loss on the same parameters; call for one forward
    + backward."""

    def __init__(self, params, x, y, loss, cell="rnn"):
        H, I = params["Whh"].shape[1], params["Wxh"].shape[1]
        O = params["Why"].shape[0]
        tdtype = {np.float32: torch.float32, np.float64: torch.float64}[params["Whh"].dtype.type]
        if cell == "rnn":
            self.rnn = torch.nn.RNN(I, H, nonlinearity="tanh").to(tdtype)
        else:
            self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H).to(tdtype)
        self.H = H
        self.lin = torch.nn.Linear(H, O).to(tdtype)
        with torch.no_grad():  # torch has two hidden biases: b_ih carries bh, b_hh stays 0
            self.rnn.weight_ih_l0.copy_(torch.from_numpy(params["Wxh"]))
            self.rnn.weight_hh_l0.copy_(torch.from_numpy(params["Whh"]))
            self.rnn.bias_ih_l0.copy_(torch.from_numpy(params["bh"]))
            self.rnn.bias_hh_l0.zero_()
            if "bhn" in params:  # except the GRU's b_hn, inside the reset product
                self.rnn.bias_hh_l0[2 * H :] = torch.from_numpy(params["bhn"])
            self.lin.weight.copy_(torch.from_numpy(params["Why"]))
            self.lin.bias.copy_(torch.from_numpy(params["by"]))
        if x.ndim == 2:  # nn.RNN takes dense inputs: one-hot once, outside the timed step
            x = np.eye(I, dtype=params["Whh"].dtype)[x]
        self.x = torch.from_numpy(x)  # (T, B, I)
        self.O = O
        if loss == "xent":
            self.y = torch.from_numpy(y.reshape(-1))
            self.loss_fn = lambda o: torch.nn.functional.cross_entropy(o.reshape(-1, O), self.y)
        else:
            self.y = torch.from_numpy(y)
            self.loss_fn = lambda o: torch.nn.functional.mse_loss(o, self.y)
        self.weights = [*self.rnn.parameters(), *self.lin.parameters()]

    def __call__(self):
        for p in self.weights:
            p.grad = None
        hs, _ = self.rnn(self.x)  # (T, B, H)
        L = self.loss_fn(self.lin(hs))
        L.backward()
        return L

    def result(self):
        L = float(self().detach())
        g = {
            "Wxh": self.rnn.weight_ih_l0.grad,
            "Whh": self.rnn.weight_hh_l0.grad,
            "Why": self.lin.weight.grad,
            "bh": self.rnn.bias_ih_l0.grad,  # = b_hh's, for the blocks where bh is their sum
            "by": self.lin.bias.grad,
        }
        if isinstance(self.rnn, torch.nn.GRU):
            g["bhn"] = self.rnn.bias_hh_l0.grad[2 * self.H :]
        return L, {k: v.numpy() for k, v in g.items()}


# ---------------------------------------------------------------------------------------------
# Checking and timing
# ---------------------------------------------------------------------------------------------
def max_rel_diff(ref, other):
    """Max over the loss and the gradients of max|a - b| / max|a| (scale of the reference)."""
    (L0, g0), (L1, g1) = ref, other
    worst = abs(L1 - L0) / abs(L0)
    for k in g0:
        a, b = g0[k].astype(np.float64), g1[k].astype(np.float64)
        worst = max(worst, np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))
    return float(worst)


def time_interleaved(fns, runtime, budget_s, min_repeats, max_repeats, sample_s, settle_s):
    """Seconds per call of each fn, timed round-robin; returns ({name: [one sample per round]}).

    Each round times every fn once, starting at a different fn each round. runtime names the
    thread pool each fn runs on ("numpy" or "torch"): after a call, OpenBLAS's workers spin for
    about 0.1 s and OpenMP's for a little while, and on 2 cores a spinning pool slows the other
    one by up to 2x; so before switching pools we wait settle_s and let the spinners sleep.
    """
    once = {}
    for name, fn in fns.items():  # warm up and size each sample (after the check's calls)
        t0 = time.perf_counter()
        fn()
        once[name] = time.perf_counter() - t0
    inner = {name: max(1, round(sample_s / s)) for name, s in once.items()}
    switches = 2 if len(set(runtime.values())) > 1 else 0  # into torch and out, each round
    per_round = sum(inner[n] * once[n] for n in fns) + switches * settle_s
    repeats = int(min(max_repeats, max(min_repeats, budget_s / per_round)))
    names = list(fns)
    samples = {name: [] for name in names}
    last_runtime = None
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                if last_runtime not in (None, runtime[name]):
                    _spin(settle_s)
                last_runtime = runtime[name]
                fn, n = fns[name], inner[name]
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                samples[name].append((time.perf_counter() - t0) / n)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def _cpu_seconds():
    """(busy CPU-seconds of the whole machine, CPU-seconds of this process and of its children
    that have ended, e.g. bench_compare's workers), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            user, nice, system, idle, iowait, irq, softirq, steal = map(
                int, f.readline().split()[1:9]
            )
    except (OSError, ValueError):
        return None
    busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    own = os.times()
    return busy, own.user + own.system + own.children_user + own.children_system


def _spin(seconds):
    """Wait without sleeping: on a VM an idle vCPU can take long to wake, which would be timed."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def paired_median(num, den):
    """Median over rounds of num/den measured in the same round: robust to a machine whose
    speed drifts (other tenants on a shared host), as both were timed moments apart."""
    return float(np.median(np.asarray(num) / np.asarray(den)))


def bench_shape(shape, dtype, args, use_torch):
    params, x, y, loss = make_problem(shape, dtype)
    cell = cell_of(shape)

    def engine():
        return model.bptt(params, x, y, loss=loss, stats=False, cell=cell)

    def engine_stats():
        return model.bptt(params, x, y, loss=loss, stats=True, cell=cell)

    fns = {"engine": engine, "engine+stats": engine_stats}
    if cell == "rnn":
        fns["naive"] = lambda: naive_step(params, x, y, loss)
    ts = TorchStep(params, x, y, loss, cell) if use_torch else None
    if ts is not None:
        fns["torch"] = ts
    fns["floor"] = make_floor(params, x, y, loss, cell)
    fns["probe"] = make_probe_floor(params, x, cell)

    res = engine()
    ref = (res.loss, res.grads)
    check = {}
    if cell == "rnn":
        check["naive"] = max_rel_diff(ref, naive_step(params, x, y, loss))
    if ts is not None:
        check["torch"] = max_rel_diff(ref, ts.result())

    budget, lo, hi, sample = (1.0, 3, 15, 0.002) if args.quick else (args.budget, 11, 301, 0.01)
    if args.repeats:
        lo = hi = args.repeats
    runtime = {name: "torch" if name == "torch" else "numpy" for name in fns}
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    samples = time_interleaved(fns, runtime, budget, lo, hi, sample, args.settle)
    cpu1, wall = _cpu_seconds(), time.perf_counter() - wall0
    others = None  # CPUs that other processes kept busy on average while this shape was timed
    if cpu0 is not None and cpu1 is not None:
        others = max(0.0, ((cpu1[0] - cpu0[0]) - (cpu1[1] - cpu0[1])) / wall)
    T, B, I, H, O, inputs, _ = shape[:7]
    return {
        "dtype": np.dtype(dtype).name,
        "shape": {
            "T": T,
            "B": B,
            "I": I,
            "H": H,
            "O": O,
            "inputs": inputs,
            "loss": loss,
            "cell": cell,
        },  # fmt: skip
        "loss_value": res.loss,
        "check_max_rel_diff": check,
        "repeats": len(samples["engine"]),
        "other_processes_cpus": others,
        **summarize(samples),
    }


def summarize(samples):
    """Median ms per implementation, their spread, and the ratios against the targets."""
    ms = {k: 1e3 * statistics.median(v) for k, v in samples.items()}
    iqr = {  # interquartile range over median, in %: how steady each median is
        k: 100 * float(np.subtract(*np.percentile(v, [75, 25])) / np.median(v))
        for k, v in samples.items()
    }
    eng = samples["engine"]
    ratios = {  # medians of per-round ratios; None where a reference was not timed
        "naive/engine": paired_median(samples["naive"], eng) if "naive" in samples else None,
        "engine/torch": paired_median(eng, samples["torch"]) if "torch" in samples else None,
        "engine/floor": paired_median(eng, samples["floor"]) if "floor" in samples else None,
        "stats %": 100 * (paired_median(samples["engine+stats"], eng) - 1),
        "probe %": 100 * paired_median(samples["probe"], eng) if "probe" in samples else None,
    }
    return {"ms": ms, "iqr_pct": iqr, "ratios": ratios}


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def _built_with_blas():
    """The BLAS NumPy was built against, from its build config (no threadpoolctl needed)."""
    try:
        return np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:  # older NumPy, or a config without that entry
        return "unknown"


def environment(use_torch):
    infos = threadpoolctl.threadpool_info() if threadpoolctl is not None else []
    infos = [i for i in infos if i["user_api"] == "blas"]
    infos.sort(key=lambda i: "numpy" not in i.get("filepath", ""))  # NumPy's own BLAS first
    blas = infos[0] if infos else None
    threads = blas["num_threads"] if blas else os.cpu_count()
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "rnninit": rnninit.__version__,
        "torch": torch.__version__ if use_torch else None,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy_blas": {
            "library": blas["internal_api"] if blas else _built_with_blas(),
            "version": blas.get("version") if blas else None,
            "kernel": blas.get("architecture") if blas else None,
            "threads": threads,
            "threads_source": "threadpoolctl" if blas else "assumed os.cpu_count()",
        },
        "torch_threads": threads if use_torch else None,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
    }


def print_header(env, use_torch, torch_note):
    b = env["numpy_blas"]
    print(
        f"python {env['python']}, numpy {env['numpy']}, rnninit {env['rnninit']}, "
        f"{env['machine']}, {env['cpu_count']} CPUs"
    )
    if b["kernel"]:
        print(
            f"numpy BLAS: {b['library']} {b['version']}, kernel {b['kernel']}, "
            f"{b['threads']} threads (threadpoolctl)"
        )
    else:
        print(
            f"numpy BLAS: {b['library']} (kernel unknown; install threadpoolctl to see it), "
            f"{b['threads']} threads assumed (os.cpu_count())"
        )
    print(
        f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']} OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}"
    )
    if use_torch:
        print(
            f"torch {env['torch']} (CPU), torch.set_num_threads({env['torch_threads']}), "
            f"intra-op threads now {torch.get_num_threads()}"
        )
    else:
        print(f"torch: {torch_note}; the torch column is skipped")
    print(
        "naive = min-char-rnn style loop written in this script: every operation inside the "
        "time loop, matmuls over the whole batch"
    )
    print(
        "floor = the engine's matrix products alone (no elementwise work); "
        "token-id dWxh as a dense one-hot product"
    )
    print("others = CPUs kept busy by other processes while a row was timed (from /proc/stat)")
    print(
        "one step = forward + loss + all gradients; ms = median over interleaved rounds; "
        "ratios = median over rounds of the ratio within each round\n"
    )


BUSY = 0.2  # other processes' CPUs above which a row's numbers are flagged as disturbed


def _row_cells(r):
    """The printed cells of one result row; a trailing * marks a missed target."""
    s, ms, q = r["shape"], r["ms"], r["ratios"]

    def num(v, spec, missed=False):
        return ("-" if v is None else format(v, spec)) + ("*" if missed else " ")

    torch_q, busy, floor_q = q["engine/torch"], r["other_processes_cpus"], q["engine/floor"]
    return [
        s.get("cell", "rnn"),
        f"{s['T']},{s['B']},{s['I']},{s['H']},{s['O']}",
        s["loss"],
        num(ms["engine"], ".3f"),
        num(ms["engine+stats"], ".3f"),
        num(ms.get("naive"), ".3f"),
        num(ms.get("torch"), ".3f"),
        num(ms.get("floor"), ".3f"),
        num(q["naive/engine"], ".2f"),
        num(torch_q, ".2f", torch_q is not None and torch_q > TARGETS["engine/torch"]),
        num(
            floor_q,
            ".2f",
            floor_q is not None and s["H"] >= 256 and floor_q > TARGETS["engine/floor"],
        ),
        num(q["stats %"], ".1f", q["stats %"] >= TARGETS["stats %"]),
        num(q.get("probe %"), ".1f"),
        str(r["repeats"]),
        "-" if busy is None else f"{busy:.2f}" + ("!" if busy > BUSY else " "),
        " ".join(f"{k} {v:.0e}" for k, v in r["check_max_rel_diff"].items()),
    ]


COLUMNS = [  # header, width
    ("cell", 4), ("T,B,I,H,O", 17), ("loss", 5), ("engine", 9), ("+stats", 9), ("naive", 9), ("torch", 9),
    ("floor", 9), ("naive/eng", 9), ("eng/torch", 9), ("eng/floor", 9), ("stats%", 7),
    ("probe%", 7), ("reps", 5), ("others", 6), ("max rel diff", 22),
]  # fmt: skip


def print_table(dtype, rows):
    print(
        f"{dtype}: ms per step (targets: eng/torch <= {TARGETS['engine/torch']}, "
        f"eng/floor <= {TARGETS['engine/floor']} at H >= 256, stats% < {TARGETS['stats %']}; "
        "* = target missed)"
    )
    print("  ".join(h.rjust(w) for h, w in COLUMNS))
    for r in rows:
        print("  ".join(c.rjust(w) for c, (_, w) in zip(_row_cells(r), COLUMNS, strict=True)))
    busy = [r for r in rows if (r["other_processes_cpus"] or 0) > BUSY]
    if busy:
        print(
            f"! other processes kept > {BUSY} CPUs busy while these rows were timed: "
            "their numbers are disturbed; rerun on a quiet machine"
        )
    print()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="few repeats: a smoke run of ~30 s")
    p.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    p.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    p.add_argument("--no-torch", action="store_true", help="skip torch even if importable")
    p.add_argument(
        "--rows",
        default=",".join(str(i + 1) for i in range(len(SHAPES))),
        help="table rows to run, 1-based, comma-separated (default: all), e.g. to rerun a "
        "row that others disturbed",
    )
    p.add_argument("--repeats", type=int, default=0, help="fixed repeats per shape")
    p.add_argument(
        "--budget",
        type=float,
        default=18.0,
        help="seconds of timing per shape and dtype (default 18)",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=0.15,
        help="pause in s between numpy and torch samples (default 0.15)",
    )
    args = p.parse_args(argv)
    try:
        picked = [int(i) for i in args.rows.split(",")]
    except ValueError:
        picked = [0]
    if not all(1 <= i <= len(SHAPES) for i in picked):
        p.error(f"--rows: expected numbers from 1 to {len(SHAPES)}, got {args.rows!r}")
    shapes = [SHAPES[i - 1] for i in picked]

    use_torch = torch is not None and not args.no_torch
    torch_note = "disabled by --no-torch" if torch is not None else "not importable"
    env = environment(use_torch)
    if use_torch:
        torch.set_num_threads(env["torch_threads"])
    print_header(env, use_torch, torch_note)

    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    results, failed = [], []
    t_start = time.perf_counter()
    for dt in dtypes:
        rows = []
        for shape in shapes:
            row = bench_shape(shape, np.dtype(dt).type, args, use_torch)
            for ref, diff in row["check_max_rel_diff"].items():
                if not diff <= CHECK_TOL[dt]:
                    failed.append(f"{dt} {shape[:5]}: engine vs {ref} differ by {diff:.2e}")
            rows.append(row)
        print_table(dt, rows)
        results += rows
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"environment": env, "results": results}, indent=1))
        print(f"wrote {args.json}")
    for f in failed:
        print(f"CHECK FAILED: {f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
