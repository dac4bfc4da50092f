"""Tasks: batches of inputs, targets and masks for the RNN (DESIGN section 5).

Numeric core: NumPy only, no files, no printing, no global RNG. Every draw comes from the
``numpy.random.Generator`` the caller passes in, so the same generator state gives the same batch.
Arrays are time-major (section 2): ``x`` is (T, B) int64 token ids or (T, B, I) float64,
``y`` is (T, B) int64 class ids for ``xent`` or (T, B, O) float64 for ``mse``.

| task | inputs -> targets | loss | chance |
|---|---|---|---|
| char | one-hot chars -> next char | xent, every step | log(V) |
| adding | (value, marker) pairs -> sum of the two marked values | mse, last step | 1/6 |
| copy | 10 symbols, T-1 blanks, delimiter, 10 blanks -> blanks, then the symbols | xent | 10 log 8 / (T+20) |
| mnist1d | 40 standardised scalars -> the digit, read at the last step | xent, last step | log 10 |

Each task also says which positions carry a class for accuracy (``accuracy_mask``): all the
masked positions for char and mnist1d, the 10 recalled symbols for copy, none for adding.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import RnnInitError

if TYPE_CHECKING:
    from collections.abc import Callable

# Validation draws for the synthetic tasks use this spawn key under the task's seed, so they
# never coincide with the training streams (which the experiment layer spawns as keys 0, 1, ...).
_VAL_SPAWN_KEY = 0x56414C  # "VAL"
# mnist1d's permutation (task.permute) comes from this fixed seed, not from the run's seed, so
# every run and every seed sees the same permuted task, as in permuted sequential MNIST.
PERMUTE_SEED = 0x5045524D  # "PERM"


@dataclass
class Batch:
    """One batch of sequences, time-major.

    Attributes:
        x: (T, B) int64 token ids (one-hot inputs) or (T, B, I) float64 inputs.
        y: (T, B) int64 class targets for loss ``xent``, or (T, B, O) float64 for ``mse``.
        mask: (T, B) float64 weights >= 0 selecting the positions that count, or None for all ones.
    """

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray | None = None


class Task(ABC):
    """Base class of the tasks: sizes, loss, chance baseline and the batch samplers.

    Attributes:
        name: the task's key in ``TASKS``.
        input_size: I (the vocabulary size when inputs are token ids).
        output_size: O (number of classes for ``xent``, output width for ``mse``).
        loss: ``"xent"`` or ``"mse"``.
        seq_len: T of the sequences this task produces (``copy``: delay + 20).
        token_inputs: True when ``x`` holds int64 token ids.
        chance: the chance baseline in the loss's units (nats for ``xent``).
        chance_text: the baseline with its formula, for humans.
        chance_acc: the accuracy of a uniform guess (1/O; copy 1/8), None without classes.
        default_target: the target loss used when ``train.target_loss`` is null (chance / 2
            unless a task knows better); target_text says how it was chosen.
    """

    name: str = ""
    input_size: int = 0
    output_size: int = 0
    loss: str = "xent"
    seq_len: int = 0
    token_inputs: bool = True
    chance: float = math.nan
    chance_text: str = ""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @property
    def default_target(self) -> float:
        return self.chance / 2

    @property
    def target_text(self) -> str:
        return "chance / 2"

    @abstractmethod
    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """Draw a training batch of ``batch_size`` sequences from ``rng``.

        Args:
            rng: the data generator; the same state gives the same batch.
            batch_size: B, the number of sequences.

        Returns:
            A ``Batch`` with arrays of the shapes documented on ``Batch``.
        """

    def validation(self, batch_size: int, max_batches: int) -> list[Batch]:
        """Fixed validation batches, identical on every call.

        The synthetic tasks draw ``max_batches`` batches from a generator seeded from the task's
        ``seed`` and independent of any training generator.

        Args:
            batch_size: B of each batch.
            max_batches: the number of batches to return (at most, for ``char``).

        Returns:
            A list of ``Batch``.
        """
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(_VAL_SPAWN_KEY,)))
        return [self.sample(rng, batch_size) for _ in range(max_batches)]

    has_classes: bool = True

    def accuracy_mask(self, batch: Batch) -> np.ndarray | None:
        """(T, B) bool: the positions whose class counts for accuracy; None without classes.

        By default the positions the loss counts (mask > 0, or all of them without a mask).
        """
        if not self.has_classes:
            return None
        T, B = batch.y.shape[:2]
        return np.ones((T, B), dtype=bool) if batch.mask is None else batch.mask > 0

    @property
    def chance_acc(self) -> float | None:
        """The top-1 accuracy of a uniform guess over the classes that accuracy counts (1/O),
        beside ``chance`` (the loss of that guess); None for a task without classes."""
        return 1.0 / self.output_size if self.has_classes else None

    def bits(self, loss: float) -> float | None:
        """The loss in bits per symbol where that is meaningful (``char``), else None.

        Args:
            loss: a loss in nats.

        Returns:
            ``loss / ln 2`` for ``char``; None for the other tasks.
        """
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seq_len={self.seq_len}, I={self.input_size}, O={self.output_size})"


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise RnnInitError(f"batch size: expected a positive integer, got {batch_size}")


class CharTask(Task):
    """Next-character prediction on a text: x = chars[t], y = chars[t + 1].

    The vocabulary is the sorted set of characters in the whole text. The last ``val_fraction``
    of the text (contiguous) is the validation split; training windows come from the rest.
    """

    name = "char"
    loss = "xent"
    token_inputs = True

    def __init__(self, text: str, seq_len: int, seed: int = 0, val_fraction: float = 0.1) -> None:
        super().__init__(seed)
        if not 0.0 < val_fraction < 1.0:
            raise RnnInitError(
                f"task.val_fraction: expected a number between 0 and 1 (exclusive), got {val_fraction}"
            )
        self.seq_len = seq_len
        # Code points sort like Python strings, so np.unique gives sorted(set(text));
        # surrogatepass keeps a str with lone surrogates (never from a UTF-8 file) encodable.
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        uniq, ids = np.unique(codes, return_inverse=True)
        self.vocab = "".join(map(chr, uniq.tolist()))
        self.ids = ids.astype(np.int64).reshape(-1)  # (N,)
        self.input_size = self.output_size = len(self.vocab)
        n_val = int(round(len(text) * val_fraction))
        self.split = len(text) - n_val  # train = ids[:split], val = ids[split:]
        need = seq_len + 1
        for part, n in (("training", self.split), ("validation", n_val)):
            if n < need:
                raise RnnInitError(
                    f"task.seq_len: the text's {part} split has {n:,} chars, but one sequence "
                    f"needs task.seq_len + 1 = {need:,} (text of {len(text):,} chars, "
                    f"task.val_fraction={val_fraction}); use a longer text or a smaller task.seq_len"
                )
        V = len(self.vocab)
        self.chance = math.log(V)
        self.chance_text = f"log(V) = {self.chance:.2f} nats (uniform over {V} chars)"
        counts = np.bincount(self.ids[: self.split], minlength=V)
        p = counts[counts > 0] / self.split
        self.unigram_entropy = float(-(p * np.log(p)).sum())  # a model that ignores context

    @property
    def default_target(self) -> float:
        return 0.85 * self.unigram_entropy

    @property
    def target_text(self) -> str:
        return f"0.85 x unigram entropy {self.unigram_entropy:.3f} (beating a context-free model)"

    def encode(self, s: str) -> np.ndarray:
        """Token ids of the characters of ``s`` (each must be in the vocabulary)."""
        index = {c: i for i, c in enumerate(self.vocab)}
        return np.array([index[c] for c in s], dtype=np.int64)

    def decode(self, ids: np.ndarray) -> str:
        """The characters of a 1-D sequence of token ids."""
        return "".join(self.vocab[i] for i in np.asarray(ids).reshape(-1).tolist())

    def _windows(self, starts: np.ndarray) -> Batch:
        T = self.seq_len
        idx = starts[None, :] + np.arange(T + 1)[:, None]  # (T+1, B)
        w = self.ids[idx]
        return Batch(x=w[:-1], y=w[1:], mask=None)

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """B random windows of T + 1 chars from the training split: x = w[:-1], y = w[1:]."""
        _check_batch_size(batch_size)
        # the last valid start leaves room for T + 1 chars inside the training split
        starts = rng.integers(0, self.split - self.seq_len, size=batch_size)
        return self._windows(starts)

    def validation(self, batch_size: int, max_batches: int) -> list[Batch]:
        """Consecutive windows of the validation split, in order, identical on every call.

        Window k reads x = val[kT : kT + T] and y = val[kT + 1 : kT + T + 1], so the inputs (and
        the targets) of successive windows do not overlap and every validation char after the
        first is predicted exactly once. At most ``max_batches`` batches of ``batch_size``
        windows; the last batch is smaller when the split runs out.
        """
        _check_batch_size(batch_size)
        T = self.seq_len
        n_val = len(self.ids) - self.split
        n_windows = min((n_val - 1) // T, batch_size * max_batches)
        starts = self.split + T * np.arange(n_windows)
        return [self._windows(starts[i : i + batch_size]) for i in range(0, n_windows, batch_size)]

    def bits(self, loss: float) -> float | None:
        """Bits per character: the loss in nats divided by ln 2."""
        return loss / math.log(2)


class AddingTask(Task):
    """The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015).

    x[t, b] = (value ~ U[0, 1), marker); exactly one marker in t < T//2 and one in t >= T//2.
    The target at the last step is the sum of the two marked values; the mask selects only t = T-1.
    """

    name = "adding"
    input_size = 2
    output_size = 1
    loss = "mse"
    token_inputs = False
    has_classes = False
    # Always predicting 1 = E[sum]: the mse is Var(u1 + u2) = 2 * (1/12).
    chance = 1.0 / 6.0
    chance_text = "1/6 = 0.167 (mse of always predicting 1: Var(u1 + u2) = 2/12)"

    def __init__(self, seq_len: int, seed: int = 0) -> None:
        super().__init__(seed)
        if seq_len < 2:
            raise RnnInitError(
                f"task.seq_len: the adding task needs at least 2 steps, got {seq_len}"
            )
        self.seq_len = seq_len

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """B sequences of (value, marker) pairs with the target and mask at the last step."""
        _check_batch_size(batch_size)
        T, B, half = self.seq_len, batch_size, self.seq_len // 2
        values = rng.random((T, B))  # (T, B)
        first = rng.integers(0, half, size=B)  # (B,)
        second = rng.integers(half, T, size=B)  # (B,)
        cols = np.arange(B)
        markers = np.zeros((T, B))
        markers[first, cols] = 1.0
        markers[second, cols] = 1.0
        x = np.stack([values, markers], axis=-1)  # (T, B, 2)
        y = np.zeros((T, B, 1))
        y[T - 1, :, 0] = values[first, cols] + values[second, cols]
        mask = np.zeros((T, B))
        mask[T - 1] = 1.0
        return Batch(x=x, y=y, mask=mask)


class CopyTask(Task):
    """The copy memory task in the form of Arjovsky et al. (2016); ``delay`` = the configured T.

    Input (length delay + 20): 10 symbols from 0..7, delay - 1 blanks (8), the delimiter (9),
    10 blanks. Target: blanks for delay + 10 steps, then the 10 symbols. Input I = 10 tokens,
    output O = 9 classes.
    """

    name = "copy"
    n_symbols = 8
    n_copy = 10
    blank = 8
    delimiter = 9
    input_size = 10
    output_size = 9
    loss = "xent"
    token_inputs = True

    def __init__(self, seq_len: int, seed: int = 0) -> None:
        super().__init__(seed)
        if seq_len < 1:
            raise RnnInitError(
                f"task.seq_len: the copy task needs a delay of at least 1, got {seq_len}"
            )
        self.delay = seq_len
        self.seq_len = self.sequence_length(seq_len)
        # Blanks are predictable; only the 10 recalled symbols cost log 8 each.
        self.chance = self.n_copy * math.log(self.n_symbols) / self.seq_len
        self.chance_text = f"10 log(8) / (T + 20) = {self.chance:.4f} nats (blanks known, recalled symbols guessed)"

    @classmethod
    def sequence_length(cls, delay: int) -> int:
        """The length of a copy sequence: the symbols, the delay, the recall (delay + 20)."""
        return delay + 2 * cls.n_copy

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """B copy sequences: symbols, blanks, delimiter, blanks -> blanks, then the symbols."""
        _check_batch_size(batch_size)
        L, B, n = self.seq_len, batch_size, self.n_copy
        symbols = rng.integers(0, self.n_symbols, size=(n, B))  # (10, B)
        x = np.full((L, B), self.blank, dtype=np.int64)
        x[:n] = symbols
        x[n + self.delay - 1] = self.delimiter
        y = np.full((L, B), self.blank, dtype=np.int64)
        y[L - n :] = symbols
        return Batch(x=x, y=y, mask=None)

    @property
    def chance_acc(self) -> float:
        """1/8: a uniform guess among the 8 symbols at each recalled position (the blank and
        the delimiter, though output classes, are never the answer there)."""
        return 1.0 / self.n_symbols

    def accuracy_mask(self, batch: Batch) -> np.ndarray | None:
        """The 10 recalled symbols only (the blanks before them are trivially right)."""
        keep = np.zeros(batch.y.shape, dtype=bool)
        keep[-self.n_copy :] = True
        return keep


class Mnist1dTask(Task):
    """MNIST-1D (Greydanus 2020): 40 scalars per sequence -> the digit, read at the last step.

    The arrays come from the caller (the experiment layer generates and caches them); inputs
    are standardised with the training split's mean and std. With ``permute`` the 40 positions
    of every sequence are shuffled by one fixed permutation drawn from ``PERMUTE_SEED``.
    Training batches draw sequences with replacement; validation reads the held-out split in
    order.
    """

    name = "mnist1d"
    length = 40
    n_classes = 10
    input_size = 1
    output_size = 10
    loss = "xent"
    token_inputs = False
    chance = math.log(10)
    chance_text = "log(10) = 2.30 nats (uniform over 10 digits; 10% accuracy)"

    def __init__(self, data: dict, seed: int = 0, permute: bool = False) -> None:
        super().__init__(seed)
        self.seq_len = self.length
        x_train, x_val = (np.asarray(data[k], dtype=np.float64) for k in ("x", "x_test"))
        for key, x in (("x", x_train), ("x_test", x_val)):
            if x.ndim != 2 or x.shape[1] != self.length:
                raise RnnInitError(f"mnist1d: {key}: expected shape (N, 40), got {x.shape}")
        self.mean, self.std = float(x_train.mean()), float(x_train.std())
        rng = np.random.default_rng(PERMUTE_SEED)
        self.permutation = rng.permutation(self.length) if permute else None
        order = self.permutation if permute else slice(None)
        # (N, 40) -> standardised, permuted, time-major (40, N)
        self.x_train = ((x_train - self.mean) / self.std)[:, order].T.copy()
        self.x_val = ((x_val - self.mean) / self.std)[:, order].T.copy()
        self.y_train = np.asarray(data["y"], dtype=np.int64)
        self.y_val = np.asarray(data["y_test"], dtype=np.int64)

    @classmethod
    def sequence_length(cls, seq_len: int) -> int:
        """Always 40: MNIST-1D's length is fixed (``task.seq_len`` is not used)."""
        return cls.length

    def _batch(self, x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> Batch:
        T, B = self.length, len(idx)
        targets = np.zeros((T, B), dtype=np.int64)
        targets[T - 1] = y[idx]  # the class, read at the last step only
        mask = np.zeros((T, B))
        mask[T - 1] = 1.0
        return Batch(x=x[:, idx, None], y=targets, mask=mask)  # x: (40, B, 1)

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """B training sequences drawn with replacement; the target and mask at the last step."""
        _check_batch_size(batch_size)
        idx = rng.integers(0, self.x_train.shape[1], size=batch_size)
        return self._batch(self.x_train, self.y_train, idx)

    def validation(self, batch_size: int, max_batches: int) -> list[Batch]:
        """The held-out split (the package's test split) in order: at most ``max_batches``
        batches of ``batch_size`` sequences, the last one smaller when the split runs out."""
        _check_batch_size(batch_size)
        n = min(self.x_val.shape[1], batch_size * max_batches)
        return [self._batch(self.x_val, self.y_val, np.arange(i, min(i + batch_size, n)))
                for i in range(0, n, batch_size)]  # fmt: skip


def _same_length(seq_len: int) -> int:
    return seq_len


@dataclass(frozen=True)
class TaskInfo:
    """A registry entry: how to build a task, one line about it, and its chance formula.

    ``length(seq_len)`` is T of the task's sequences for the configured ``task.seq_len``
    (``copy``: delay + 20), known without building the task.
    """

    builder: Callable[..., Task]
    description: str
    chance: str
    length: Callable[[int], int] = _same_length


def _char(*, seq_len: int, seed: int, text: str | None, val_fraction: float, **_) -> Task:
    if text is None:
        raise RnnInitError(
            "task.name: the char task needs a text (task.path or the built-in corpus)"
        )
    return CharTask(text, seq_len, seed=seed, val_fraction=val_fraction)


def _adding(*, seq_len: int, seed: int, text: str | None, val_fraction: float, **_) -> Task:
    return AddingTask(seq_len, seed=seed)


def _copy(*, seq_len: int, seed: int, text: str | None, val_fraction: float, **_) -> Task:
    return CopyTask(seq_len, seed=seed)


def _mnist1d(*, seq_len: int, seed: int, data: dict | None = None, permute: bool = False,
             **_) -> Task:  # fmt: skip
    if data is None:
        raise RnnInitError("task.name: the mnist1d task needs its arrays (x, y, x_test, y_test)")
    return Mnist1dTask(data, seed=seed, permute=permute)


TASKS: dict[str, TaskInfo] = {
    "char": TaskInfo(
        _char, "one-hot chars -> next char; xent every step; last val_fraction held out", "log(V)"
    ),
    "adding": TaskInfo(
        _adding,
        "(value, marker) pairs, one marker per half -> sum of the marked values; mse, last step",
        "1/6 (always predict 1)",
    ),
    "copy": TaskInfo(
        _copy,
        "10 symbols, T-1 blanks, delimiter, 10 blanks -> blanks, then the 10 symbols; xent",
        "10 log(8) / (T + 20)",
        length=CopyTask.sequence_length,
    ),
    "mnist1d": TaskInfo(
        _mnist1d,
        "MNIST-1D: 40 standardised scalars -> the digit; xent, last step; fixed T = 40; "
        "optional extra mnist1d",
        "log(10)",
        length=Mnist1dTask.sequence_length,
    ),
}


def _check_name(name: str) -> None:
    if name not in TASKS:
        raise RnnInitError(f"task.name: expected one of {', '.join(TASKS)}, got {name!r}")


def sequence_length(name: str, seq_len: int) -> int:
    """T of the sequences task ``name`` makes for the configured ``task.seq_len``, without
    building the task (no corpus is read): ``seq_len`` itself, or for ``copy`` delay + 20.

    Raises:
        RnnInitError: an unknown task name.
    """
    _check_name(name)
    return TASKS[name].length(seq_len)


def make_task(
    name: str,
    *,
    seq_len: int,
    seed: int = 0,
    text: str | None = None,
    val_fraction: float = 0.1,
    data: dict | None = None,
    permute: bool = False,
) -> Task:
    """Build a task by its name in ``TASKS``.

    Args:
        name: ``char``, ``adding``, ``copy`` or ``mnist1d``.
        seq_len: T (for ``copy``, the delay; its sequences have T + 20 steps; ``mnist1d``
            ignores it: its length is 40).
        seed: seeds the fixed validation batches of the synthetic tasks.
        text: the corpus for ``char`` (ignored by the others).
        val_fraction: the fraction at the end of ``text`` held out for validation (``char``).
        data: ``mnist1d``'s arrays: ``x`` (N, 40), ``y`` (N,), ``x_test``, ``y_test``.
        permute: ``mnist1d`` only: shuffle the 40 positions by one fixed permutation.

    Returns:
        The ``Task``.

    Raises:
        RnnInitError: unknown name, a bad ``seq_len`` or ``seed``, or a text too short for one
            sequence.
    """
    _check_name(name)
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
        raise RnnInitError(f"task.seq_len: expected a positive integer, got {seq_len!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        # SeedSequence refuses negative seeds; say so before any work starts
        raise RnnInitError(f"seed: expected a non-negative integer, got {seed!r}")
    if permute and name != "mnist1d":
        raise RnnInitError(f"task.permute: only the mnist1d task can be permuted, not {name}")
    return TASKS[name].builder(seq_len=int(seq_len), seed=int(seed), text=text,
                               val_fraction=val_fraction, data=data, permute=permute)  # fmt: skip
