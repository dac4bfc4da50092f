"""Runs in worker processes, for sweeps and compares alike: the local pool or a Dask cluster,
one run inside a worker, and the loop that hands runs out and collects what they report.

A run goes to a worker as a Job (its id, resolved config, folder and overrides); the worker
trains it into its folder, or continues it from its checkpoint when an interrupt or a kill left
one (``can_continue``), and returns a small result that never raises. Workers are spawned, each
with ``blas_threads`` BLAS threads (1 by default, so that parallel runs do not fight over the
cores); Ctrl-C or ``should_stop`` asks every run to stop after its step, with a checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import socket
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RnnInitError
from ..fileio import atomic_write_text
from .config import Config, dump_config
from .lock import RunLocked, live_holder
from .runs import effective_status, read_summary, write_json

EXECUTORS = ("local", "dask")
STOP_GRACE = 120.0  # seconds a stopping pool waits for its running runs to report back
FINISHED = ("completed", "diverged")  # a run in one of these states is never run again by resume
BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")  # fmt: skip


@dataclass(frozen=True)
class Job:
    """One run for a worker: its id (for results), resolved config, folder and the overrides as
    typed (recorded in its overrides.yaml)."""

    id: str
    config: Config
    run_dir: Path
    overrides: tuple[str, ...] = ()


def worker_count(jobs: int | None, runs: int) -> int:
    """Worker processes for `runs` runs: `jobs`, by default the number of cores, at most one per
    run and at least one."""
    return max(1, min(jobs or os.cpu_count() or 1, max(runs, 1)))


# ---------------------------------------------------------------------------------------------
# A run folder's state: what resume skips, continues or starts again.
# ---------------------------------------------------------------------------------------------
def run_state(run_dir: Path) -> str | None:
    """None when the run has no summary yet, else its status ('stale' when its process is gone);
    'running' while a live process holds the folder's lock, whatever its summary says yet."""
    if live_holder(run_dir) is not None:
        return "running"
    if not (run_dir / "summary.json").is_file():
        return None
    try:
        return effective_status(read_summary(run_dir))
    except RnnInitError:
        return "unreadable"


# ---------------------------------------------------------------------------------------------
# One run, inside a worker process (local) or a Dask worker.
# ---------------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {"stop": None, "busy": False, "signals": 0}


def _init_worker(stop_event) -> None:
    """A local worker: SIGINT/SIGTERM ask every run to stop after its step; a second one while
    a run is going stops it at once (what Ctrl-C on a terminal does to the whole group)."""
    _WORKER["stop"] = stop_event

    def on_signal(signum, frame):
        _WORKER["signals"] += 1
        stop_event.set()
        if _WORKER["signals"] > 1 and _WORKER["busy"]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if hasattr(signal, "pthread_sigmask"):  # started with SIGINT blocked: see _sigint_deferred
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _dask_should_stop(event_name: str):
    """Ask the scheduler's stop event at most once a second (each ask is a round trip)."""
    from distributed import Event

    event, last = Event(event_name), {"t": -math.inf, "set": False}

    def should_stop() -> bool:
        now = time.monotonic()
        if now - last["t"] >= 1.0:
            try:
                last["t"], last["set"] = now, event.is_set()
            except Exception:  # the scheduler or this worker is going away: stop cleanly
                last["set"] = True
        return last["set"]

    return should_stop


def can_continue(run_dir: Path) -> bool:
    """True for a run folder that an interrupt or a kill left with a checkpoint to go on from."""
    if not (run_dir / "checkpoint.npz").is_file():
        return False
    try:
        return effective_status(read_summary(run_dir)) in ("interrupted", "stale")
    except RnnInitError:
        return False


def execute_run(run_id: str, config: dict, run_dir: str, overrides=(), argv=None, stop=None):
    """Train one run (of a sweep or a compare) into run_dir; return a small result, never raise.

    A run that fails (a missing task.path, a bug) still leaves config.yaml and a summary.json
    saying failed, with the error on one line, so that summarize and resume see it.
    """
    from .training import resume, train

    if stop is not None:
        should_stop = _dask_should_stop(stop)
    else:
        event = _WORKER["stop"]
        should_stop = event.is_set if event is not None else (lambda: False)
    if should_stop():  # queued before a stop request: leave the folder alone
        return {"run_id": run_id, "status": "not started"}
    t0 = time.time()
    _WORKER["busy"] = True
    try:
        if can_continue(Path(run_dir)):  # interrupted or killed: go on from its checkpoint
            summary = resume(run_dir, argv=argv, should_stop=should_stop)
        else:
            summary = train(config, run_dir=run_dir, argv=argv, overrides=list(overrides),
                            should_stop=should_stop)  # fmt: skip
        keys = ("status", "steps_done", "steps", "final_loss", "final_val_loss", "diverged_at",
                "seconds")  # fmt: skip
        return {"run_id": run_id, **{k: summary.get(k) for k in keys}}
    except KeyboardInterrupt:
        return {"run_id": run_id, "status": "interrupted"}
    except RunLocked as e:  # another process writes it now: leave its folder alone
        return {"run_id": run_id, "status": "running elsewhere", "error": one_line(e)}
    except Exception as e:
        error = one_line(e)
        _record_failure(Path(run_dir), config, run_id, error, t0)
        return {"run_id": run_id, "status": "failed", "error": error}
    finally:
        _WORKER["busy"] = False


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if isinstance(e, RnnInitError) else f"{type(e).__name__}: {text}".rstrip(": ")


def _record_failure(run_dir: Path, config: dict, run_id: str, error: str, t0: float) -> None:
    """config.yaml and a failed summary.json, unless train already wrote this attempt's."""
    with contextlib.suppress(OSError):
        run_dir.mkdir(parents=True, exist_ok=True)
        if not (run_dir / "config.yaml").is_file():
            atomic_write_text(run_dir / "config.yaml", dump_config(config))
        try:
            old = read_summary(run_dir)
        except RnnInitError:
            old = {}
        if old.get("status") == "failed" and old.get("updated", 0) >= t0:
            return
        write_json(run_dir / "summary.json", {
            "status": "failed", "error": error, "run_id": run_id, "run_dir": str(run_dir),
            "name": config.name, "seed": config.seed, "steps": config.train.steps,
            "steps_done": 0, "pid": os.getpid(), "host": socket.gethostname(),
            "updated": time.time()})  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Executors: a pool of local processes, or a Dask cluster.
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def blas_environment(threads: int):
    """Set the BLAS thread variables for processes started inside the block, then restore.

    Workers are spawned (not forked), so each starts a fresh interpreter that reads these before
    it loads NumPy; the parent's own NumPy, loaded already, is not affected.
    """
    saved = {k: os.environ.get(k) for k in BLAS_VARS}
    os.environ.update({k: str(threads) for k in BLAS_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _sigint_ignored():
    """Processes started inside the block ignore SIGINT (an ignored signal stays ignored across
    exec): Ctrl-C on a terminal reaches the whole process group, and Dask workers that receive
    it shut down, losing their runs. This process asks them to stop through an Event instead."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _sigint_deferred():
    """Processes started inside the block start with SIGINT blocked (a signal mask survives
    exec), so that a Ctrl-C that reaches a worker still importing cannot kill it with a
    traceback: the worker unblocks SIGINT once its handler is in place (_init_worker), and a
    Ctrl-C that came meanwhile arrives then. This process's own Ctrl-C waits for the block's
    end; it is never lost."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class LocalExecutor:
    """`jobs` spawned worker processes, each with `blas_threads` BLAS threads."""

    def __init__(self, jobs: int, blas_threads: int = 1):
        self.slots, self.blas_threads = jobs, blas_threads
        self.label = f"{jobs} local worker process{'es' if jobs > 1 else ''}"

    def __enter__(self):
        ctx = multiprocessing.get_context("spawn")
        self.stop_event = ctx.Event()
        self._env = blas_environment(self.blas_threads)
        self._env.__enter__()  # for the pool's whole life: it may start a worker at any submit
        self.pool = ProcessPoolExecutor(self.slots, mp_context=ctx, initializer=_init_worker,
                                        initargs=(self.stop_event,))  # fmt: skip
        return self

    def start(self) -> None:
        """Start every worker now rather than at the first submits, so that they load Python
        and NumPy while the caller does its own work."""
        with _sigint_deferred():
            for _ in range(self.slots):  # each submit while no worker is idle starts one
                self.pool.submit(os.getpid)

    def submit(self, job: Job, argv):
        with _sigint_deferred():  # the pool starts a worker here while it has fewer than `jobs`
            return self.pool.submit(execute_run, job.id, job.config, str(job.run_dir),
                                    job.overrides, argv)  # fmt: skip

    def wait(self, futures, timeout: float):
        return wait_futures(futures, timeout=timeout, return_when=FIRST_COMPLETED)[0]

    def call_all(self, calls) -> list:
        """Run plain calls, each (function, args, kwargs) of picklable things, in the workers
        at once; return their results in order, raising the first failed call's exception."""
        with _sigint_deferred():
            futures = [self.pool.submit(fn, *args, **kwargs) for fn, args, kwargs in calls]
        return [f.result() for f in futures]

    def stop(self) -> None:
        self.stop_event.set()

    def __exit__(self, kind, value, tb):
        try:
            if kind is not None:  # a hard stop: running runs see the event; drop the queue
                self.stop_event.set()
            # and wait for the workers to end: one still starting (start()) reads the event's
            # semaphore, which this process's exit would remove under it (a traceback)
            self.pool.shutdown(wait=True, cancel_futures=kind is not None)
        finally:
            self._env.__exit__(None, None, None)


class DaskExecutor:
    """Runs as tasks on a dask.distributed cluster; a LocalCluster of processes when no address.

    Results land in the run folders, so workers and this process must see the same filesystem
    at the same path (a shared filesystem; runs_dir is made absolute here).
    """

    def __init__(self, scheduler: str | None, jobs: int, blas_threads: int = 1):
        self.scheduler, self.jobs, self.blas_threads = scheduler, jobs, blas_threads
        self.cluster = self.client = None

    def __enter__(self):
        import logging

        try:
            from distributed import Client, Event, LocalCluster
        except ImportError:
            raise RnnInitError("--executor dask: dask.distributed is not installed; "
                               "pip install 'rnninit[dask]'") from None  # fmt: skip
        try:
            if self.scheduler:
                self.client = Client(self.scheduler, timeout="20s")
            else:
                env = {k: str(self.blas_threads) for k in BLAS_VARS}
                with blas_environment(self.blas_threads), _sigint_ignored():
                    self.cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1,
                                                processes=True, dashboard_address=None,
                                                silence_logs=logging.ERROR, env=env)  # fmt: skip
                self.client = Client(self.cluster)
        except OSError as e:  # includes timeouts: no scheduler at that address
            self.__exit__(None, None, None)
            where = f"--scheduler {self.scheduler}" if self.scheduler else "LocalCluster"
            raise RnnInitError(f"{where}: cannot connect: {one_line(e)}") from None
        workers = self.client.scheduler_info().get("workers", {}).values()
        self.slots = max(sum(w.get("nthreads", 1) for w in workers), 1)
        self.label = (f"Dask at {self.scheduler}" if self.scheduler else "a Dask LocalCluster") + (
            f" ({len(workers)} workers, {self.slots} threads)")  # fmt: skip
        self.stop_name = f"rnninit-stop-{uuid.uuid4().hex}"
        self.event = Event(self.stop_name, client=self.client)
        return self

    def submit(self, job: Job, argv):
        return self.client.submit(execute_run, job.id, job.config, str(job.run_dir), job.overrides,
                                  argv, self.stop_name, key=f"rnninit-{job.id}-{uuid.uuid4().hex[:6]}",
                                  pure=False)  # fmt: skip

    def wait(self, futures, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            done = {f for f in futures if f.done()}
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(0.05)

    def stop(self) -> None:
        self.event.set()

    def __exit__(self, kind, value, tb):
        if kind is not None and self.client is not None:
            with contextlib.suppress(Exception):
                self.event.set()
        for thing in (self.client, self.cluster):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.close()


def make_executor(executor: str, jobs: int, scheduler: str | None = None, blas_threads: int = 1):
    """The backend named by --executor (not started: enter it with `with`)."""
    if executor not in EXECUTORS:
        raise RnnInitError(f"--executor: expected one of {', '.join(EXECUTORS)}, got '{executor}'")
    if executor == "local":
        return LocalExecutor(jobs, blas_threads)
    return DaskExecutor(scheduler, jobs, blas_threads)


# ---------------------------------------------------------------------------------------------
# Handing runs out and collecting their results.
# ---------------------------------------------------------------------------------------------
def run_jobs(backend, jobs: list[Job], *, on_result, should_stop=None, argv=None) -> bool:
    """Submit every job to a started backend and call on_result(job, result) for each as it
    reports, in the order they finish; never raises for a failed run.

    should_stop is asked every 0.25 s; once it says True, every running run stops after its
    current step (status interrupted, with a checkpoint), jobs not yet started report 'not
    started', and jobs still silent STOP_GRACE seconds later (lost with their worker) are
    reported 'not started' too: their folders say what they got to. Returns True when stopped.
    """
    should_stop = should_stop or (lambda: False)
    pending = {backend.submit(job, argv): job for job in jobs}
    stopping, deadline = False, math.inf
    while pending:
        for fut in backend.wait(list(pending), 0.25):
            job = pending.pop(fut)
            on_result(job, _outcome(fut, job))
        if not stopping and should_stop():
            stopping, deadline = True, time.monotonic() + STOP_GRACE
            backend.stop()
        if stopping and pending and time.monotonic() > deadline:
            for fut, job in pending.items():
                fut.cancel()
                on_result(job, {"run_id": job.id, "status": "not started"})
            break
    return stopping


def _outcome(fut, job: Job) -> dict:
    """The worker's result, or a failed one when the worker itself died or was lost."""
    try:
        if fut.cancelled():
            return {"run_id": job.id, "status": "not started"}
        return fut.result()
    except Exception as e:  # BrokenProcessPool (a killed worker), KilledWorker, an import error
        return {"run_id": job.id, "status": "failed",
                "error": f"no worker could run it: {one_line(e)}"}  # fmt: skip
