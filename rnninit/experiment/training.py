"""The training loop: one config in, one run folder and one summary out (DESIGN sections 6-8).

Step k's row in metrics.csv is the loss of the batch of step k *before* update k, so step 0 is
the untrained network and the last row (step = train.steps) is the trained one. Statistics are
collected at step 0, every log.stats_every steps and at the last step.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._version import __version__
from ..core import optim
from ..core.cells import CELL_COLUMNS, Cell, get_cell
from ..core.critical import mean_input_sq, resolve_critical
from ..core.draws import SOLVED
from ..core.engine import bptt, forward
from ..core.inits import SCHEMES, InitSpec, init_params, parse_init
from ..core.losses import accuracy_counts, masked_mean_loss
from ..core.stats import THEORY_COLUMNS, TIMESTEP_COLUMNS, ema_update, param_stats, spectral
from ..core.tasks import Task, make_task, sequence_length
from ..core.theory import grad_var_profile, theory_from_weights
from ..errors import RnnInitError
from ..fileio import atomic_write_bytes, atomic_write_text
from .config import Config, TrainConfig, absolute_paths, dump_config, init_mapping, validate
from .corpus import corpus_fingerprint, task_text
from .lock import hold
from .mnist1d import load_mnist1d
from .runs import (
    CSV_FILES,
    CsvLog,
    create_run_dir,
    process_start,
    write_json,
)
from .snapshots import EIGEN_NPZ, UNITS_NPZ, load_eigenvalues, load_units, save_snapshot
from .spectra import (
    JACOBIAN_COLUMNS,
    batch_spectrum,
    load_spectra,
    plot_data,
    save_spectra,
    spectrum_rows,
    truncate_spectra,
)
from .threads import blas_threads

DTYPES = {"float32": np.float32, "float64": np.float64}
JACOBIAN_CSV, JACOBIAN_NPZ = "jacobian.csv", "jacobian.npz"  # written only with log.jacobian


class Reporter:
    """Receives progress events; the library's default says nothing. The CLI renders them."""

    def start(self, info: dict) -> None: ...
    def step(self, row: dict) -> None: ...
    def stats(self, step: int, timesteps: dict) -> None: ...
    def jacobian(self, step: int, rows: list[dict]) -> None: ...
    def end(self, summary: dict) -> None: ...


@dataclass
class Setup:
    """Everything a run needs before step 0, built (and checked) before any file is written."""

    config: Config
    cell: Cell
    task: Task
    spec: InitSpec
    params: dict
    opt_state: dict
    rng_data: np.random.Generator
    val_batches: list
    corpus: dict = field(default_factory=dict)
    critical: dict | None = None  # the solve of init.Whh=critical (resolve_critical), if any


def _seeds(seed: int) -> tuple[np.random.SeedSequence, ...]:
    """Independent streams for the weights, the data and the Jacobian probe (jac_sq), so inits
    compared at one seed see the same batches in the same order. spawn(3)[:2] equals spawn(2):
    the probe's stream left the first two, and every number drawn from them, as they were."""
    init_ss, data_ss, probe_ss = np.random.SeedSequence(seed).spawn(3)
    return init_ss, data_ss, probe_ss


def _probe_rng(seed: int, step: int) -> np.random.Generator:
    """The generator of the jac_sq probes at one statistics step: child `step` of the probe
    stream, so that a resumed run draws the same probes without any state in the checkpoint."""
    probe_ss = _seeds(seed)[2]
    return np.random.default_rng(
        np.random.SeedSequence(probe_ss.entropy, spawn_key=(*probe_ss.spawn_key, step))
    )


def memory_limit() -> int:
    """Bytes one run may plan to use for its activations: 80% of this machine's memory."""
    try:
        return int(0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def check_memory(cfg: Config, seq_len: int, input_size: int, output_size: int) -> None:
    """Refuse, before any work, sizes whose BPTT arrays would not fit in memory.

    One step keeps, for every t, the pre-activations a_t, their gradient and a copy of the input
    projection (3 arrays of T*B*G*H, G the cell's gate blocks, 1 without gates), h_t and dL/dh_t
    (2 of T*B*H), 2 more of T*B*H per further state (an LSTM's c_t and tanh(c_t)), and the
    outputs with their softmax and gradient (3 of T*B*O); the parameters with their gradients
    and optimizer state count 4 times.
    """
    T, B, H = seq_len, cfg.train.batch_size, cfg.model.hidden_size
    cell = get_cell(cfg.model.cell, where="model.cell")
    G, extra_states = max(1, len(cell.gates)), len(cell.state_names) - 1
    itemsize = np.dtype(cfg.train.dtype).itemsize
    per_step = (3 * G + 2 + 2 * extra_states) * H + 3 * output_size
    n_params = sum(int(np.prod(s.shape)) for s in cell.param_specs(input_size, H, output_size))
    need = per_step * T * B * itemsize + 4 * n_params * itemsize
    limit = memory_limit()
    if need > limit:
        raise RnnInitError(
            f"train: one BPTT step needs about {need / 2**30:.1f} GiB (T={T}, B={B}, H={H}, "
            f"{cfg.train.dtype}); the limit is {limit / 2**30:.1f} GiB (80% of this machine's "
            "memory); lower train.batch_size, task.seq_len or model.hidden_size, or pass "
            "--no-memory-check"
        )


def prepare(config: Config | dict, memory_check: bool = True) -> Setup:
    """Validate the config and build the task, the parameters and the optimizer state."""
    cfg = absolute_paths(validate(config, source="config"))
    t, m, tr = cfg.task, cfg.model, cfg.train
    if memory_check:  # a first look with the task's T, before reading any corpus
        check_memory(cfg, sequence_length(t.name, t.seq_len), 1, 1)
    text, data, corpus = None, None, {}
    if t.name == "char":
        text, description = task_text(t.path)
        corpus = {"corpus": description, "corpus_sha256": corpus_fingerprint(text)}
    elif t.name == "mnist1d":
        data, corpus = load_mnist1d()
    task = make_task(t.name, seq_len=t.seq_len, seed=cfg.seed, text=text,
                     val_fraction=t.val_fraction, data=data, permute=t.permute)  # fmt: skip
    if getattr(task, "permutation", None) is not None:
        corpus["mnist1d"]["permutation"] = task.permutation.tolist()  # recorded with the run
    if memory_check:
        check_memory(cfg, task.seq_len, task.input_size, task.output_size)
    cell = get_cell(m.cell, where="model.cell")
    cell.check_nonlinearity(m.nonlinearity, where="model.nonlinearity")
    spec = parse_init(cfg.init, where="init", cell=cell)
    init_ss, data_ss, _ = _seeds(cfg.seed)
    cfg, spec, critical = _solve_critical(cfg, spec, cell, task, data_ss)
    params = init_params(
        task.input_size,
        m.hidden_size,
        task.output_size,
        init=spec,
        rng=np.random.default_rng(init_ss),
        dtype=DTYPES[tr.dtype],
        cell=cell,
        seq_len=task.seq_len,  # chrono's T_max where the init leaves it out
    )
    return Setup(
        config=cfg,
        cell=cell,
        task=task,
        spec=spec,
        params=params,
        opt_state=optim.init_state(tr.optimizer, params),
        rng_data=np.random.default_rng(data_ss),
        val_batches=task.validation(tr.batch_size, t.val_batches),
        corpus=corpus,
        critical=critical,
    )


def _solve_critical(cfg: Config, spec: InitSpec, cell: Cell, task: Task, data_ss):
    """(config, spec, solve) with ``init.Whh=critical`` replaced by the draw it stands for
    (``core.critical.resolve_critical``): xavier at the gain solved from this run's
    nonlinearity, bias scheme and inputs, x_sq over the first batches this run will train on
    (a generator of its own on the data seed: the run's stream is left as it was). The config
    records the draw, gain in full, so that its config.yaml reruns the run bit for bit; a
    config without ``critical`` comes back as it was, with solve None."""
    if spec.per_param[cell.recurrent_weight][0] not in SOLVED:
        return cfg, spec, None
    x_sq = mean_input_sq(task, np.random.default_rng(data_ss), cfg.train.batch_size)
    spec, solve = resolve_critical(spec, cell, cfg.model.nonlinearity, task.input_size,
                                   cfg.model.hidden_size, x_sq)  # fmt: skip
    W = solve["param"]
    if isinstance(cfg.init, dict):  # the user's mapping, its solved entry made explicit
        init = {**cfg.init, W: {"scheme": solve["draw"], "gain": solve["gain"]}}
    else:  # a compact string: the explicit mapping of every matrix
        init = init_mapping(spec)
    return cfg.updated({"init": init}), spec, solve


def theory_at_init(setup: Setup, x) -> dict | None:
    """Mean-field prediction for step 0 from the drawn weights and this batch, per sequence then
    pooled over the batch (``theory_from_weights``); None where the theory does not apply: a cell
    without a mean-field theory, or a scheme that is not zero-mean i.i.d. or orthogonal (uniform,
    identity, ...)."""
    roles = setup.cell.mean_field_params
    if roles is None:
        return None
    for name in roles.values():  # input, recurrent, bias
        if not SCHEMES[setup.spec.per_param[name][0]].zero_mean:
            return None
    p = {role: setup.params[name] for role, name in roles.items()}
    return theory_from_weights(
        setup.config.model.nonlinearity, p["input"], p["recurrent"], p["bias"], x
    )


def _first_nonfinite(loss: float, grads: dict, setup: Setup, batch) -> str | None:
    """Name the first tensor that went non-finite: a forward array and its t, the loss, or a
    gradient. Only called to explain a divergence, so the extra forward pass costs nothing."""
    nl = setup.config.model.nonlinearity
    if not math.isfinite(loss):
        with np.errstate(all="ignore"):
            cache = forward(setup.params, batch.x, nonlinearity=nl, cell=setup.cell)
        for label, arr in (
            ("a_t (pre-activation)", cache.A),
            ("h_t", cache.hs[1:]),
            ("o_t", cache.out),
        ):
            bad_t = np.flatnonzero(~np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1))
            if bad_t.size:
                return f"{label} at t={bad_t[0] + 1}"
        return "loss"
    for name in setup.cell.param_names:
        if not np.all(np.isfinite(grads[name])):
            return f"d{name}"
    return None


class RunFiles:
    """The open files of one run folder (or nothing at all when write=False); with
    ``jacobian``, also jacobian.csv and jacobian.npz (the spectra so far, kept to rewrite it)."""

    def __init__(self, run_dir: Path | None, append: bool = False, jacobian: bool = False):
        self.dir = run_dir
        self.logs = {}
        self.spectra = {}
        if run_dir is not None:
            self.logs = {n: CsvLog(run_dir / n, cols, append) for n, cols in CSV_FILES.items()}
            if jacobian:
                self.logs[JACOBIAN_CSV] = CsvLog(run_dir / JACOBIAN_CSV, JACOBIAN_COLUMNS, append)
                self.spectra = load_spectra(run_dir / JACOBIAN_NPZ) if append else {}

    def write(self, name: str, rows) -> None:
        if self.logs:
            self.logs[name].write_many(rows)

    def spectrum(self, step: int, spectrum) -> None:
        """One statistics step's Jacobian spectrum: its rows, and jacobian.npz rewritten."""
        if self.logs:
            self.write(JACOBIAN_CSV, spectrum_rows(step, spectrum))
            self.spectra[step] = spectrum
            save_spectra(self.dir / JACOBIAN_NPZ, self.spectra)

    def summary(self, data: dict) -> None:
        if self.dir is not None:
            data = {k: v for k, v in data.items() if not k.startswith("_")}
            write_json(self.dir / "summary.json", {**data, "updated": time.time()})

    def close(self) -> None:
        for log in self.logs.values():
            log.close()


def _with_jac_sq(theory: dict | None) -> dict | None:
    """The theory with its jac_sq: the product of chi from t+1 to T (1 at t = T)."""
    if theory is None:
        return None
    return {**theory, "jac_sq": grad_var_profile(theory["chi"])}


def _timestep_rows(step: int, ts: dict, theory: dict | None) -> list[dict]:
    T = len(ts["act_var"])
    rows = []
    for i in range(T):
        row = {"step": step, "t": i + 1}
        row.update({c: float(ts[c][i]) for c in TIMESTEP_COLUMNS})
        row.update({c: float(ts[c][i]) for c in CELL_COLUMNS if c in ts})  # a gated cell's
        if theory is not None:
            row.update({c: float(theory[c.removeprefix("theory_")][i]) for c in THEORY_COLUMNS})
        rows.append(row)
    return rows


def _param_rows(step: int, params: dict, grads: dict | None) -> list[dict]:
    return [{"step": step, "param": k, **v} for k, v in param_stats(params, grads).items()]


def save_checkpoint(path: Path, setup: Setup, summary: dict) -> None:
    """Parameters, optimizer state, data RNG state and the running summary, in one npz (no
    pickle). Written only between steps, where these are consistent with each other."""
    arrays = {f"param/{k}": v for k, v in setup.params.items()}
    for key, per_param in setup.opt_state.items():
        if isinstance(per_param, dict):
            arrays.update({f"opt/{key}/{k}": v for k, v in per_param.items()})
    meta = {
        "step": summary["steps_done"],
        "opt_t": setup.opt_state.get("t", 0),
        "rng": setup.rng_data.bit_generator.state,
        "elapsed": time.perf_counter() - summary["_t0"],
        "summary": {k: v for k, v in summary.items() if not k.startswith("_")},
    }
    arrays["meta"] = np.array(json.dumps(meta))
    atomic_write_bytes(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path: Path, setup: Setup) -> dict:
    """Put a checkpoint's parameters, optimizer and RNG state into setup; return its meta."""
    with np.load(path, allow_pickle=False) as ckpt:
        meta = json.loads(str(ckpt["meta"]))
        for name in setup.params:
            setup.params[name][...] = ckpt[f"param/{name}"]
        for key, per_param in setup.opt_state.items():
            if isinstance(per_param, dict):
                for name in per_param:
                    per_param[name][...] = ckpt[f"opt/{key}/{name}"]
    setup.opt_state["t"] = meta["opt_t"]
    setup.rng_data.bit_generator.state = meta["rng"]
    return meta


class Stopped(Exception):
    """Raised inside the loop, between steps, when the caller asked the run to stop."""


def _versions() -> dict:
    return {"python": platform.python_version(), "numpy": np.__version__, "rnninit": __version__}


def _hyper(tr: TrainConfig) -> dict:
    return {k: getattr(tr, k) for k in ("lr", "momentum", "beta1", "beta2", "rho", "eps")}


def train(
    config: dict,
    *,
    write: bool = True,
    reporter: Reporter | None = None,
    argv: list[str] | None = None,
    overrides: list[str] | None = None,
    run_dir: str | os.PathLike | None = None,
    should_stop=None,
    memory_check: bool = True,
) -> dict:
    """Train one RNN as the config says and return its summary.

    Args:
        config: a nested config dict (see ``rnninit.config``); it is validated first.
        write: write the run folder under ``log.runs_dir`` (False: compute only).
        reporter: receives start/step/stats/end events (the CLI's progress display).
        argv: the command line, recorded in summary.json.
        overrides: the KEY=VALUE overrides as typed, recorded in overrides.yaml.
        run_dir: write into this folder (created if missing; files of an earlier attempt are
            replaced) instead of a fresh ``<name>-<time>-<hex>`` folder under log.runs_dir.
            The folder is locked while the run writes it (RunLocked if a live process holds it).
        should_stop: a callable checked between steps; when it returns True the run stops
            there, writes a checkpoint and returns with status ``interrupted``.
        memory_check: refuse sizes whose BPTT arrays would not fit in memory.

    Returns:
        The summary dict of DESIGN section 7 (status, steps_done, final_loss, best_loss,
        steps_to_target, diverged_at, seconds, seed, argv, versions, run_dir, ...).
    """
    setup = prepare(config, memory_check)
    cfg = setup.config
    if not write:
        run_dir = None
    elif run_dir is not None:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = create_run_dir(cfg.log.runs_dir, cfg.name)
    with hold(run_dir):  # no other process writes this folder until the run ends
        files = RunFiles(run_dir, jacobian=cfg.log.jacobian)
        if run_dir is not None:
            atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
            atomic_write_text(run_dir / "overrides.yaml", dump_overrides(overrides or []))
        summary = _initial_summary(setup, run_dir, argv)
        with blas_threads(cfg) as summary["blas"]:  # the policy's count (or train.threads)
            return _run(setup, files, summary, reporter or Reporter(), should_stop)


def resume(run_dir, *, reporter: Reporter | None = None, argv=None, should_stop=None) -> dict:
    """Continue an interrupted or killed run from its last checkpoint, in its own folder.

    The finished run's metrics.csv, timesteps.csv and params.csv are identical to those of a
    run that was never interrupted (the wall-clock column aside). The folder is locked from
    the first read to the end; a folder another live process holds raises RunLocked.
    """
    with hold(Path(run_dir)):
        return _resume(Path(run_dir), reporter, argv, should_stop)


def _resume(run_dir: Path, reporter, argv, should_stop) -> dict:
    from .config import load_config
    from .runs import read_summary, truncate_csv

    old = read_summary(run_dir)
    if old.get("status") in ("completed", "diverged"):
        raise RnnInitError(f"{run_dir}: the run is already {old['status']}; nothing to resume")
    ckpt = run_dir / "checkpoint.npz"
    if not ckpt.is_file():
        raise RnnInitError(f"{run_dir}: no checkpoint.npz to resume from")
    setup = prepare(load_config(run_dir / "config.yaml"))
    meta = load_checkpoint(ckpt, setup)
    step = meta["step"]
    for name in (*CSV_FILES, JACOBIAN_CSV):  # drop rows past the checkpoint: computed again
        if (run_dir / name).exists():
            truncate_csv(
                run_dir / name, lambda row: row.get("step") is not None and row["step"] < step
            )
    truncate_spectra(run_dir / JACOBIAN_NPZ, step)
    summary = {**meta["summary"], "status": "running", "pid": os.getpid(),
               "pid_start": process_start(os.getpid()),
               "host": socket.gethostname(), "resumed_from": step,
               "argv": list(argv) if argv is not None else list(sys.argv),
               "_t0": time.perf_counter() - meta["elapsed"]}  # fmt: skip
    files = RunFiles(run_dir, append=True, jacobian=setup.config.log.jacobian)
    started_with = (meta["summary"].get("blas") or {}).get("threads")
    with blas_threads(setup.config, resumed=started_with) as summary["blas"]:
        return _run(setup, files, summary, reporter or Reporter(), should_stop)


def _run(setup: Setup, files: RunFiles, summary: dict, reporter: Reporter, should_stop) -> dict:
    """The loop with its bookkeeping: status, checkpoints, summary, plots, reporter events."""
    files.summary(summary)
    if files.dir is not None and summary["steps_done"] == 0:
        save_checkpoint(files.dir / "checkpoint.npz", setup, summary)  # resumable from the start
        _snapshot(files.dir, setup, "init", 0)
    reporter.start(
        {**summary, "config": setup.config.to_dict(), "chance_text": setup.task.chance_text}
    )
    consistent = True  # may a checkpoint be written at the end?
    try:
        _loop(setup, files, summary, reporter, should_stop or (lambda: False))
    except Stopped:
        summary["status"] = "interrupted"
    except KeyboardInterrupt:  # a hard interrupt mid-step: keep the last checkpoint as it is
        summary["status"] = "interrupted"
        consistent = False
        raise
    except BaseException as e:
        summary["status"] = "failed"
        summary["error"] = f"{type(e).__name__}: {e}"
        consistent = False
        raise
    finally:
        _finish(setup, files, summary, reporter, consistent)
    return summary


def _finish(setup: Setup, files: RunFiles, summary: dict, reporter: Reporter, consistent: bool):
    """Checkpoint, plots and the final summary. After a failure each is tried on its own, so
    that a full disk still gets the summary written if it can, and the first error is the one
    the caller sees."""
    from .reports import write_run_report

    # the summary goes before the plots, so that an interrupt while drawing cannot leave it stale
    steps = [lambda: files.summary(summary), files.close]
    if files.dir is not None:
        steps.insert(1, lambda: _plots(files.dir, summary))
        steps.append(lambda: write_run_report(files.dir, summary))  # from the files just closed
        if consistent:
            steps.insert(0, lambda: save_checkpoint(files.dir / "checkpoint.npz", setup, summary))
            # after the summary (index 1), before the plots that draw them
            steps.insert(2, lambda: _snapshot(files.dir, setup, "end", summary["steps_done"]))
    t0 = summary["_t0"]
    first_summary = 1 if files.dir is not None and consistent else 0
    for i, step in enumerate(steps):
        if i == first_summary:
            summary.pop("_t0", None)
            summary["seconds"] = time.perf_counter() - t0
            summary["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        try:
            step()
        except Exception:
            if summary["status"] != "failed":
                raise
    reporter.end(summary)


def dump_overrides(overrides: list[str]) -> str:
    import yaml

    return yaml.safe_dump(list(overrides), default_flow_style=False) if overrides else "[]\n"


def _init_record(setup: Setup) -> dict:
    """A summary's ``init``: per parameter its scheme, gain, role and a gate bias's parameter
    (``arg``); ``init_gates``, the gate-block overrides, only where there are any."""
    spec, roles = setup.spec, setup.cell.param_roles
    init = {}
    for k, (s, g) in spec.per_param.items():
        init[k] = {"scheme": s, "gain": g, "role": roles[k]}
        if k in spec.args:
            init[k]["arg"] = spec.args[k]
    gates = {k: {"scheme": s, "gain": g} for k, (s, g) in spec.per_gate.items()}
    return {"init": init, **({"init_gates": gates} if gates else {})}


def _initial_summary(setup: Setup, run_dir: Path | None, argv) -> dict:
    cfg, task = setup.config, setup.task
    target, target_text = _target(cfg, task)
    return {
        "status": "running",
        "run_id": run_dir.name if run_dir else None,
        "run_dir": str(run_dir) if run_dir else None,
        "name": cfg.name,
        "task": task.name,
        "loss_kind": task.loss,
        "nonlinearity": cfg.model.nonlinearity,
        "hidden_size": cfg.model.hidden_size,
        "seq_len": task.seq_len,
        "chance": task.chance,
        "chance_acc": task.chance_acc,  # a uniform guess's accuracy; None without classes
        "target_loss": target,
        "target_text": target_text,
        "steps": cfg.train.steps,
        "steps_done": 0,
        "final_loss": None,
        "best_loss": None,
        "final_val_loss": None,
        "best_val_loss": None,
        "final_val_bits": None,
        "final_val_acc": None,
        "best_val_acc": None,
        "steps_to_target": None,
        "target_acc": cfg.train.target_acc,
        "steps_to_target_acc": None,
        "diverged_at": None,
        "diverged_tensor": None,
        "data_sha256": "",
        "cell": setup.cell.name,
        **_init_record(setup),
        **({"critical": setup.critical} if setup.critical else {}),
        "spectral_radius_target": setup.spec.spectral_radius,
        **spectral(setup.params["Whh"]),
        "seconds": 0.0,
        "seed": cfg.seed,
        "argv": list(argv) if argv is not None else list(sys.argv),
        "versions": _versions(),
        "pid": os.getpid(),
        "pid_start": process_start(os.getpid()),  # tells this process from a later one of its pid
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **setup.corpus,
        "_t0": time.perf_counter(),
    }


def _target(cfg: Config, task: Task) -> tuple[float, str]:
    """train.target_loss, or the task's default target when it is null."""
    target = cfg.train.target_loss
    if target is not None:
        return target, "train.target_loss"
    return task.default_target, f"task default: {task.target_text}"


def _validate(setup: Setup) -> tuple[float, float | None]:
    """(val_loss, val_acc) on the fixed validation batches: the loss is the mean of each batch's
    masked mean loss; the accuracy is correct over counted positions pooled over the batches
    (the task's accuracy_mask: mnist1d the last step, copy the recalled symbols, char every
    char), None for a task without classes (adding)."""
    p, nl, kind, task = setup.params, setup.config.model.nonlinearity, setup.task.loss, setup.task
    losses, correct, counted = [], 0, 0
    for b in setup.val_batches:
        out = forward(p, b.x, nonlinearity=nl, cell=setup.cell).out  # (T, B, O)
        losses.append(masked_mean_loss(out, b.y, b.mask, kind))
        keep = task.accuracy_mask(b)
        if keep is not None:
            c, n = accuracy_counts(out, b.y, keep)
            correct, counted = correct + c, counted + n
    return float(np.mean(losses)), (correct / counted if counted else None)


def _loop(setup: Setup, files: RunFiles, summary: dict, reporter: Reporter, should_stop) -> None:
    cfg, task, params = setup.config, setup.task, setup.params
    tr, lg = cfg.train, cfg.log
    nl, steps, hyper = cfg.model.nonlinearity, tr.steps, _hyper(tr)
    t0 = summary["_t0"]
    for step in range(summary["steps_done"], steps + 1):
        if should_stop():
            raise Stopped
        batch = task.sample(setup.rng_data, tr.batch_size)
        summary["data_sha256"] = _chain_digest(summary["data_sha256"], batch)
        collect = step % lg.stats_every == 0 or step == steps
        with np.errstate(all="ignore"):  # overflow is detected below, as non-finite numbers
            probe = _probe_rng(cfg.seed, step) if collect else None  # its own stream
            res = bptt(params, batch.x, batch.y, batch.mask, None, nl, task.loss, stats=collect,
                       cell=setup.cell, probe_rng=probe)  # fmt: skip
            gnorm = optim.global_norm(res.grads)
            if not (math.isfinite(res.loss) and math.isfinite(gnorm)):
                bad = _first_nonfinite(res.loss, res.grads, setup, batch)
            else:
                bad = None
        if collect:
            theory = _with_jac_sq(theory_at_init(setup, batch.x)) if step == 0 else None
            files.write("timesteps.csv", _timestep_rows(step, res.timesteps, theory))
            files.write("params.csv", _param_rows(step, params, res.grads))
            reporter.stats(step, {**res.timesteps, "theory": theory})
            if lg.jacobian:
                _jacobian(setup, files, reporter, step, batch.x)
        val = acc = None
        if bad is None and (step % lg.eval_every == 0 or step == steps):
            with np.errstate(all="ignore"):
                val, acc = _validate(setup)
        row = {"step": step, "loss": res.loss, "val_loss": val, "val_acc": acc, "grad_norm": gnorm,
               "lr": tr.lr, "seconds": time.perf_counter() - t0}  # fmt: skip
        files.write("metrics.csv", [row])
        _update_summary(summary, task, row, summary["target_loss"])
        if val is not None:
            files.summary(summary)  # heartbeat: a reader can tell a live run from a dead one
        reporter.step(row)
        if bad is not None:
            summary.update(status="diverged", diverged_at=step, diverged_tensor=bad)
            return
        summary["steps_done"] = step
        if step == steps:
            break
        optim.clip_by_global_norm(res.grads, tr.clip, gnorm)
        optim.step(tr.optimizer, params, res.grads, setup.opt_state, hyper)
        summary["steps_done"] = step + 1
        if files.dir and lg.checkpoint_every and (step + 1) % lg.checkpoint_every == 0:
            save_checkpoint(files.dir / "checkpoint.npz", setup, summary)
    summary["status"] = "completed"


def _jacobian(setup: Setup, files: RunFiles, reporter: Reporter, step: int, x) -> None:
    """The Jacobian spectrum of this statistics step: the first log.jacobian_sequences
    sequences of its batch, at the weights before its update (experiment/jacobian.py)."""
    cfg = setup.config
    spectrum = batch_spectrum(setup.params, x, cfg.model.nonlinearity, setup.cell,
                              cfg.log.jacobian_sequences)  # fmt: skip
    files.spectrum(step, spectrum)
    reporter.jacobian(step, spectrum_rows(step, spectrum))


def _chain_digest(previous: str, batch) -> str:
    """A digest of every batch seen so far, so two runs can prove they saw the same data."""
    h = hashlib.sha256(previous.encode())
    for arr in (batch.x, batch.y, batch.mask):
        if arr is not None:
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def _update_summary(summary: dict, task: Task, row: dict, target: float | None) -> None:
    loss, val = row["loss"], row["val_loss"]
    if math.isfinite(loss):
        summary["final_loss"] = loss
        best = summary["best_loss"]
        summary["best_loss"] = loss if best is None else min(best, loss)
        # steps to target: the first step at which the smoothed training loss is at or below the
        # target (the rule compare's loss ladder reads metrics.csv with: core.stats.ema_update)
        summary["loss_ema"] = ema = ema_update(summary.get("loss_ema"), loss)
        if target is not None and summary["steps_to_target"] is None and ema <= target:
            summary["steps_to_target"] = row["step"]
    if val is not None and math.isfinite(val):
        summary["final_val_loss"] = val
        bv = summary["best_val_loss"]
        summary["best_val_loss"] = val if bv is None else min(bv, val)
        summary["final_val_bits"] = task.bits(val)
        acc = row.get("val_acc")
        if acc is not None:
            summary["final_val_acc"] = acc
            ba = summary.get("best_val_acc")  # absent in a run resumed from before val_acc
            summary["best_val_acc"] = acc if ba is None else max(ba, acc)
            # steps to an accuracy: the first evaluation at or above it (val_acc is measured on
            # the same fixed batches each time, so it is not smoothed as the training loss is)
            goal = summary.get("target_acc")
            if goal is not None and summary.get("steps_to_target_acc") is None and acc >= goal:
                summary["steps_to_target_acc"] = row["step"]


def _snapshot(run_dir: Path, setup: Setup, which: str, step: int) -> None:
    """Whh's eigenvalues and one validation sequence unit by unit, at this point of the run
    (experiment/snapshots.py)."""
    cfg = setup.config
    save_snapshot(run_dir, which, step, setup.params, setup.cell, setup.val_batches[0],
                  cfg.model.nonlinearity, setup.task.loss)  # fmt: skip


def _plots(run_dir: Path, summary: dict) -> None:
    """variance_by_timestep.png and loss.png from the run's own CSVs."""
    from ..report import plots
    from .runs import read_csv

    (run_dir / "plots").mkdir(exist_ok=True)
    title = summary.get("run_id") or ""
    plots.variance_by_timestep(
        read_csv(run_dir / "timesteps.csv"), run_dir / "plots" / "variance_by_timestep.png", title
    )
    plots.loss_curve(
        read_csv(run_dir / "metrics.csv"),
        run_dir / "plots" / "loss.png",
        chance=summary["chance"],
        target=summary["target_loss"],
        title=title,
    )
    eig = load_eigenvalues(run_dir / EIGEN_NPZ)
    if eig:
        plots.eigenvalue_clouds(eig, run_dir / "plots" / "eigenvalues.png", title)
    units = load_units(run_dir / UNITS_NPZ)
    if units:
        plots.unit_heatmaps({"": units}, run_dir / "plots" / "units.png", title)
    if (run_dir / JACOBIAN_CSV).exists():
        plots.jacobian_spectrum(
            read_csv(run_dir / JACOBIAN_CSV),
            plot_data(load_spectra(run_dir / JACOBIAN_NPZ)),
            run_dir / "plots" / "jacobian.png",
            title,
        )
