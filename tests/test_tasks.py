"""Tasks (DESIGN section 5) and the char corpus: layouts, determinism, chance baselines, errors."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnninit.core.tasks import (
    TASKS,
    AddingTask,
    Batch,
    CharTask,
    CopyTask,
    make_task,
    sequence_length,
)
from rnninit.errors import RnnInitError
from rnninit.experiment import corpus

TEXT = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, "
    "it was the age of foolishness, it was the epoch of belief, it was the epoch of "
    "incredulity, it was the season of Light, it was the season of Darkness.\n"
) * 8  # ~1,700 chars


def rng(seed=0):
    return np.random.default_rng(seed)


def same(a: Batch, b: Batch) -> bool:
    masks = (a.mask is None and b.mask is None) or np.array_equal(a.mask, b.mask)
    return np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y) and masks


def build(name, T=12, **kw):
    return make_task(name, seq_len=T, text=TEXT if name == "char" else None, **kw)


# ---------- all tasks ----------


def test_registry_lists_the_four_tasks():
    assert set(TASKS) == {"char", "adding", "copy", "mnist1d"}
    for info in TASKS.values():
        assert info.description and "\n" not in info.description and info.chance


@pytest.mark.parametrize(
    "name, x_shape, x_dtype, y_shape, y_dtype, has_mask",
    [
        ("char", (12, 5), np.int64, (12, 5), np.int64, False),
        ("adding", (12, 5, 2), np.float64, (12, 5, 1), np.float64, True),
        ("copy", (32, 5), np.int64, (32, 5), np.int64, False),
    ],
)
def test_shapes_and_dtypes(name, x_shape, x_dtype, y_shape, y_dtype, has_mask):
    task = build(name, T=12)
    b = task.sample(rng(), 5)
    assert b.x.shape == x_shape and b.x.dtype == x_dtype
    assert b.y.shape == y_shape and b.y.dtype == y_dtype
    assert task.seq_len == x_shape[0]
    assert task.token_inputs == (x_dtype == np.int64)
    if has_mask:
        assert b.mask.shape == (12, 5) and b.mask.dtype == np.float64
    else:
        assert b.mask is None
    if task.token_inputs:
        assert 0 <= b.x.min() and b.x.max() < task.input_size
    else:
        assert b.x.shape[-1] == task.input_size
    if task.loss == "xent":
        assert 0 <= b.y.min() and b.y.max() < task.output_size
    else:
        assert b.y.shape[-1] == task.output_size


@pytest.mark.parametrize("name", ["char", "adding", "copy"])
def test_same_seed_same_batch_different_seed_different(name):
    task = build(name)
    assert same(task.sample(rng(7), 8), task.sample(rng(7), 8))
    assert not same(task.sample(rng(7), 8), task.sample(rng(8), 8))
    r = rng(7)
    assert not same(task.sample(r, 8), task.sample(r, 8))  # the generator advances


@pytest.mark.parametrize("name", ["adding", "copy"])
def test_synthetic_validation_is_fixed_and_seeded(name):
    task = build(name, seed=3)
    v1, v2 = task.validation(4, 3), task.validation(4, 3)
    assert len(v1) == 3 and all(b.x.shape[1] == 4 for b in v1)
    assert all(same(a, b) for a, b in zip(v1, v2, strict=True))
    assert not same(v1[0], v1[1])
    other = build(name, seed=4).validation(4, 3)
    assert not same(v1[0], other[0])
    # independent of a training generator seeded with the same number, directly or through the
    # SeedSequence children the experiment layer spawns for its init and data streams
    assert not same(v1[0], task.sample(rng(3), 4))
    for child in np.random.SeedSequence(3).spawn(4):
        assert not same(v1[0], task.sample(np.random.default_rng(child), 4))


def test_make_task_refuses_unknown_name_and_bad_seq_len():
    with pytest.raises(RnnInitError, match="task.name.*char, adding, copy.*'addng'"):
        make_task("addng", seq_len=10)
    with pytest.raises(RnnInitError, match="task.seq_len.*0"):
        make_task("copy", seq_len=0)
    with pytest.raises(RnnInitError, match="at least 2"):
        make_task("adding", seq_len=1)
    with pytest.raises(RnnInitError, match="needs a text"):
        make_task("char", seq_len=10)
    with pytest.raises(RnnInitError, match="seed.*-1"):
        make_task("adding", seq_len=10, seed=-1)


def test_sequence_length_without_building_the_task():
    """copy's sequences are delay + 20 long; the others' are task.seq_len; same as the task's."""
    assert sequence_length("copy", 7) == 27 == TASKS["copy"].length(7)
    assert sequence_length("adding", 7) == 7 == TASKS["adding"].length(7)
    assert sequence_length("char", 7) == 7  # no corpus needed
    for name in ("copy", "adding"):
        assert make_task(name, seq_len=9).seq_len == sequence_length(name, 9)
    assert build("char").seq_len == sequence_length("char", build("char").seq_len)
    with pytest.raises(RnnInitError, match="task.name.*char, adding, copy.*'cpy'"):
        sequence_length("cpy", 5)


def test_bits_only_for_char():
    assert build("char").bits(math.log(2) * 3) == pytest.approx(3.0)
    assert build("adding").bits(0.5) is None and build("copy").bits(0.5) is None


# ---------- char ----------


def test_char_vocabulary_and_chance():
    task = build("char")
    assert isinstance(task, CharTask)
    vocab = sorted(set(TEXT))
    assert list(task.vocab) == vocab and task.input_size == task.output_size == len(vocab)
    assert task.chance == pytest.approx(math.log(len(vocab)))
    assert task.loss == "xent" and str(len(vocab)) in task.chance_text


def test_char_windows_are_shifted_text_from_the_train_split():
    T, B = 16, 400
    # random letters: every window of T + 1 chars occurs once, so its offset is known exactly
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN .,"))
    text = "".join(np.random.default_rng(11).choice(letters, 3000).tolist())
    task = make_task("char", seq_len=T, text=text, val_fraction=0.25)
    split = len(text) - round(0.25 * len(text))
    b = task.sample(rng(1), B)
    offsets = []
    for j in range(B):
        xs = "".join(task.vocab[i] for i in b.x[:, j])
        ys = "".join(task.vocab[i] for i in b.y[:, j])
        window = xs + ys[-1]
        assert ys == window[1:]  # y is x shifted by one
        offset = text.find(window)
        assert offset >= 0 and text.rfind(window) == offset
        offsets.append(offset)
    assert max(offsets) + T + 1 <= split  # input and target inside the training split
    assert min(offsets) < split // 10 and max(offsets) > split - T - 1 - split // 10
    assert len(set(offsets)) > B // 2


def test_char_windows_reach_both_ends_of_the_train_split():
    text = "".join(chr(ord("a") + i % 26) + chr(ord("A") + i // 26 % 26) for i in range(200))
    task = make_task("char", seq_len=5, text=text, val_fraction=0.5)
    b = task.sample(rng(0), 4000)
    firsts = set(b.x[0].tolist())
    lasts = {(int(a), int(c)) for a, c in zip(b.x[0], b.y[-1], strict=True)}
    enc = {c: i for i, c in enumerate(task.vocab)}
    assert enc[text[0]] in firsts
    # the last training char (index 199) is reachable as a target, but never index 200
    assert (enc[text[194]], enc[text[199]]) in lasts
    assert (enc[text[195]], enc[text[200]]) not in lasts


def test_char_validation_comes_from_the_val_split_in_order():
    T, B = 10, 4
    task = make_task("char", seq_len=T, text=TEXT, val_fraction=0.2)
    val = TEXT[len(TEXT) - round(0.2 * len(TEXT)) :]
    batches = task.validation(B, 100)
    n_windows = (len(val) - 1) // T
    assert sum(b.x.shape[1] for b in batches) == n_windows
    assert all(b.x.shape == (T, B) for b in batches[:-1]) and batches[-1].x.shape[1] <= B
    k = 0
    for b in batches:
        assert b.mask is None
        for j in range(b.x.shape[1]):
            xs = "".join(task.vocab[i] for i in b.x[:, j])
            ys = "".join(task.vocab[i] for i in b.y[:, j])
            assert xs == val[k * T : k * T + T] and ys == val[k * T + 1 : k * T + T + 1]
            k += 1
    again = task.validation(B, 100)
    assert all(same(a, b) for a, b in zip(batches, again, strict=True))
    assert len(task.validation(B, 2)) == 2 and len(task.validation(B, 2)[1].x[0]) == B


def test_char_too_short_text_names_the_counts():
    with pytest.raises(RnnInitError) as e:
        make_task("char", seq_len=100, text="x" * 500, val_fraction=0.1)
    msg = str(e.value)
    assert "\n" not in msg and "task.seq_len" in msg
    assert "validation" in msg and "50 chars" in msg and "101" in msg
    with pytest.raises(RnnInitError, match=r"training split has 9 chars.*11"):
        make_task("char", seq_len=10, text="y" * 90, val_fraction=0.9)


# ---------- adding ----------


def test_adding_markers_targets_and_mask():
    T, B = 15, 200
    task = make_task("adding", seq_len=T)
    assert isinstance(task, AddingTask) and task.loss == "mse"
    b = task.sample(rng(2), B)
    values, markers = b.x[..., 0], b.x[..., 1]
    assert values.min() >= 0 and values.max() < 1
    assert set(np.unique(markers).tolist()) == {0.0, 1.0}
    half = T // 2
    assert np.all(markers[:half].sum(axis=0) == 1) and np.all(markers[half:].sum(axis=0) == 1)
    for j in range(B):
        marked = [values[t, j] for t in range(T) if markers[t, j] == 1]
        assert b.y[T - 1, j, 0] == pytest.approx(sum(marked))
    assert np.all(b.y[: T - 1] == 0)
    expected_mask = np.zeros((T, B))
    expected_mask[-1] = 1
    assert np.array_equal(b.mask, expected_mask)


def test_adding_chance_is_the_mse_of_predicting_one():
    task = make_task("adding", seq_len=4)
    b = task.sample(rng(5), 100_000)
    err = (b.y[-1, :, 0] - 1.0) ** 2
    se = err.std() / math.sqrt(err.size)
    assert abs(err.mean() - 1 / 6) < 5 * se
    assert task.chance == pytest.approx(1 / 6)


def test_adding_shortest_sequence():
    b = make_task("adding", seq_len=2).sample(rng(0), 10)
    assert np.all(b.x[:, :, 1] == 1)  # T = 2: one step per half, both marked


# ---------- copy ----------


def test_copy_layout():
    T, B = 7, 50
    task = make_task("copy", seq_len=T)
    assert isinstance(task, CopyTask)
    assert (task.input_size, task.output_size, task.seq_len) == (10, 9, T + 20)
    b = task.sample(rng(3), B)
    for j in range(B):
        x, y = b.x[:, j].tolist(), b.y[:, j].tolist()
        symbols = x[:10]
        assert all(0 <= s <= 7 for s in symbols)
        assert x == symbols + [8] * (T - 1) + [9] + [8] * 10
        assert x[10 + T - 1] == 9
        assert y == [8] * (T + 10) + symbols
    assert len(np.unique(b.x[:10])) == 8  # all 8 symbols show up


def test_copy_chance_equals_the_blank_aware_uniform_predictor():
    T, B = 5, 3000
    task = make_task("copy", seq_len=T)
    b = task.sample(rng(4), B)
    # predictor: probability 1 on blank where the target is blank; uniform over 0..7 at the end
    probs = np.zeros((T + 20, B, 9))
    probs[: T + 10, :, 8] = 1.0
    probs[T + 10 :, :, :8] = 1 / 8
    p_target = np.take_along_axis(probs, b.y[..., None], axis=-1)[..., 0]
    xent = -np.log(p_target).mean()
    assert xent == pytest.approx(task.chance, rel=1e-12)
    assert task.chance == pytest.approx(10 * math.log(8) / (T + 20))


# ---------- corpus ----------


def test_load_text_reads_utf8(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("naïve café — 日本語\nline two\n", encoding="utf-8")
    assert corpus.load_text(f) == "naïve café — 日本語\nline two\n"
    text, desc = corpus.task_text(str(f))
    assert text.startswith("naïve") and str(f) in desc and f"{len(text)} chars" in desc
    task = make_task("char", seq_len=3, text=text * 4, val_fraction=0.25)
    assert "日" in task.vocab


@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "no such file"),
        ("DIR", "directory"),
        (b"", "empty"),
        (b"abc\x00def", "NUL byte at offset 3"),
        (b"good text \xff\xfe more", "not valid UTF-8 (byte 0xff at offset 10"),
    ],
)
def test_load_text_refuses_bad_files(tmp_path, content, fragment):
    f = tmp_path / "corpus.txt"
    if content == "DIR":
        f.mkdir()
    elif content is not None:
        f.write_bytes(content)
    with pytest.raises(RnnInitError) as e:
        corpus.load_text(f)
    msg = str(e.value)
    assert "\n" not in msg and "task.path" in msg and str(f) in msg and fragment in msg


@pytest.fixture(scope="module")
def built_corpus(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNINIT_CACHE", str(cache))
        text = corpus.builtin_corpus()
        files = list(cache.iterdir())
    return text, cache, files


def test_builtin_corpus_is_real_english_text(built_corpus):
    text, _, _ = built_corpus
    assert 100_000 < len(text) <= corpus.CORPUS_MAX_CHARS
    assert sum(c.isalpha() for c in text) / len(text) > 0.6
    assert all(c == "\n" or " " <= c <= "~" for c in set(text))
    assert 60 <= len(set(text)) <= 96
    for word in (" the ", " return ", " of "):
        assert text.count(word) > 100


def test_builtin_corpus_is_cached_and_the_cache_is_read(built_corpus, monkeypatch):
    text, cache, files = built_corpus
    names = [f.name for f in files]
    version = f"py{sys.version_info.major}.{sys.version_info.minor}"
    assert len(names) == 1 and version in names[0]  # no temp files left behind
    assert files[0].read_text(encoding="ascii") == text
    monkeypatch.setenv("RNNINIT_CACHE", str(cache))
    files[0].write_text("edited cache", encoding="ascii")
    try:
        assert corpus.builtin_corpus() == "edited cache"  # read, not rebuilt
    finally:
        files[0].write_text(text, encoding="ascii")
    got, desc = corpus.task_text(None)
    assert got == text and "stdlib docstrings" in desc and f"{len(text):,} chars" in desc


def test_builtin_corpus_is_deterministic(built_corpus):
    text, _, _ = built_corpus
    rebuilt = corpus._build_stdlib_docstrings()
    assert rebuilt == text
    assert corpus.corpus_fingerprint(rebuilt) == corpus.corpus_fingerprint(text)
    assert len(corpus.corpus_fingerprint(text)) == 16


def test_builtin_corpus_without_writable_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("RNNINIT_CACHE", str(blocker / "sub"))
    monkeypatch.setattr(corpus, "_build_stdlib_docstrings", lambda: "tiny corpus")
    assert corpus.builtin_corpus() == "tiny corpus"


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("RNNINIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert corpus.cache_dir() == tmp_path / "rnninit"
    monkeypatch.setenv("RNNINIT_CACHE", str(tmp_path / "c"))
    assert corpus.cache_dir() == tmp_path / "c"


def test_char_task_on_builtin_corpus(built_corpus):
    text, _, _ = built_corpus
    task = make_task("char", seq_len=64, text=text)
    assert task.chance == pytest.approx(math.log(len(set(text))))
    assert task.sample(rng(), 8).x.shape == (64, 8)


def test_core_imports_no_cli_or_yaml():
    code = "import rnninit.core.tasks, sys; assert not {'rich','typer','yaml'} & set(sys.modules)"
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
