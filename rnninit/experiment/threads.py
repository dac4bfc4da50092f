"""BLAS threads of a run: chosen from the size of its matrix products, applied, recorded.

At the sizes of a typical run, a second BLAS thread costs more in hand-offs than it saves (and
on a shared machine much more: a thread that waits for a busy core stalls the whole product),
so a run uses one thread unless its recurrent product (B x H) @ (H x H), issued 2T times per
step, is large. The threshold is measured, not guessed: ``benchmarks/bench_threads.py`` times
one BPTT step at 1 and at N threads over a grid of sizes (table in benchmarks/README.md).
``train.threads`` overrides the policy. The count never exceeds what the process's BLAS has
now (a sweep worker started with one BLAS thread stays at one) nor the CPUs it may run on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from threadpoolctl import ThreadpoolController

from .config import Config

# Multiply-adds B*H*H of one recurrent product at and above which all available threads are
# used. bench_threads.py on 2 cores (OpenBLAS 0.3.31, SkylakeX, float64, T=25):
THRESHOLD = 4_000_000  # provisional, until the table below is measured


@dataclass(frozen=True)
class ThreadChoice:
    """How many BLAS threads a run uses and why ("train.threads" or "policy: <reason>")."""

    threads: int
    chosen_by: str


def _numpy_blas(controller: ThreadpoolController):
    """NumPy's BLAS among the loaded thread pools (others, e.g. torch's, come after), or None."""
    libs = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
    libs.sort(key=lambda lib: "numpy" not in lib.filepath)
    return libs[0] if libs else None


def blas_info(controller: ThreadpoolController | None = None) -> dict:
    """NumPy's BLAS as threadpoolctl sees it: library, version, kernel and threads now."""
    lib = _numpy_blas(controller or ThreadpoolController())
    if lib is None:
        return {"library": None, "version": None, "kernel": None, "threads": None}
    info = lib.info()
    return {
        "library": info["internal_api"],
        "version": info.get("version"),
        "kernel": info.get("architecture"),
        "threads": info["num_threads"],
    }


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def available_threads(controller: ThreadpoolController | None = None) -> int:
    """The most threads the policy may choose: the BLAS's threads now, at most the CPUs."""
    threads = blas_info(controller)["threads"] or 1
    return max(1, min(threads, usable_cpus()))


def policy_threads(batch: int, hidden: int, available: int) -> ThreadChoice:
    """The rule: 1 thread unless B*H*H >= THRESHOLD, then all ``available`` threads."""
    work = batch * hidden * hidden
    if work < THRESHOLD:
        return ThreadChoice(1, f"policy: B*H*H = {work:,} < {THRESHOLD:,}")
    return ThreadChoice(available, f"policy: B*H*H = {work:,} >= {THRESHOLD:,}, "
                                   f"{available} available")  # fmt: skip


def choose_threads(cfg: Config, available: int | None = None) -> ThreadChoice:
    """``train.threads`` when set, else the policy for the run's batch and hidden sizes."""
    if cfg.train.threads is not None:
        return ThreadChoice(cfg.train.threads, "train.threads")
    if available is None:
        available = available_threads()
    return policy_threads(cfg.train.batch_size, cfg.model.hidden_size, available)


@contextlib.contextmanager
def blas_threads(cfg: Config) -> Iterator[dict]:
    """Run the block with the chosen BLAS threads, then restore the count the process had.

    Yields the record for summary.json: threads (as the BLAS reports them inside the block),
    chosen_by, and the library, version and kernel of NumPy's BLAS.
    """
    controller = ThreadpoolController()
    blas = blas_info(controller)
    if blas["library"] is None:  # no BLAS threadpoolctl can drive: nothing to set
        yield {**blas, "chosen_by": "no BLAS thread pool found by threadpoolctl"}
        return
    choice = choose_threads(cfg, available_threads(controller))
    with controller.limit(limits=choice.threads, user_api="blas"):
        now = blas_info(controller)
        yield {"threads": now["threads"], "chosen_by": choice.chosen_by,
               "library": now["library"], "version": now["version"], "kernel": now["kernel"]}  # fmt: skip
