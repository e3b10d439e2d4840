"""Action similarity labelling (ASLAN's protocol, as the C3D paper runs it): same action or not, for a pair.

Each video is one feature vector (the mean of its clips' rows in a :class:`~videozoo.engine.features.Features`
file); a pair becomes a vector of distances between its two videos' features, of every feature file given
(the C3D paper: four layers × ASLAN's twelve distances, a 48-dimensional vector); a linear SVM on those
vectors says same or not-same, cross-validated over the pair list's folds (ASLAN: ten splits of 600 pairs,
videos of a split's actions never in the others). Reported: accuracy (mean and spread over the folds) and
ROC AUC of the SVM's decision values, pooled.

The distances, each between the two vectors ``a``, ``b``:

- ``l1``, ``l2``, ``chebyshev``, ``canberra``, ``braycurtis``, ``cosine``, ``correlation``: scipy's
  (``scipy.spatial.distance``), on the raw features;
- ``l1_unit``, ``l2_unit``: L1 and L2 between the L2-normalised vectors;
- ``chi2``, ``hellinger``, ``jensenshannon``: between the vectors as distributions (absolute values over
  their sum): χ², Hellinger (in [0, 1]), Jensen–Shannon distance (scipy's, natural log).

Twelve, as ASLAN's protocol has, but not its list (which this project does not have at hand): the same
families, Minkowski norms, angles and histogram distances.

Pair lists: ``a b same [fold]`` per line, whitespace- or comma-separated, ``same`` being 1/0, same/not-same,
true/false; videos named by path (as extracted) or file stem. Without folds, ten stratified random folds.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.datasets import DataError
from .features import Features

_EPS = 1e-12


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), _EPS)


def _distribution(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return x / max(float(x.sum()), _EPS)


def _scipy(name: str):
    from scipy.spatial import distance

    fn = getattr(distance, name)
    return lambda a, b: float(fn(a, b)) if np.any(a) or np.any(b) else 0.0


def _chi2(a: np.ndarray, b: np.ndarray) -> float:
    p, q = _distribution(a), _distribution(b)
    return float(np.sum((p - q) ** 2 / np.maximum(p + q, _EPS)))


def _hellinger(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.sqrt(_distribution(a)) - np.sqrt(_distribution(b))) / np.sqrt(2))


DISTANCES = {
    "l1": _scipy("cityblock"),
    "l2": _scipy("euclidean"),
    "chebyshev": _scipy("chebyshev"),
    "canberra": _scipy("canberra"),
    "braycurtis": _scipy("braycurtis"),
    "cosine": _scipy("cosine"),
    "correlation": _scipy("correlation"),
    "l1_unit": lambda a, b: float(np.abs(_unit(a) - _unit(b)).sum()),
    "l2_unit": lambda a, b: float(np.linalg.norm(_unit(a) - _unit(b))),
    "chi2": _chi2,
    "hellinger": _hellinger,
    "jensenshannon": lambda a, b: _scipy("jensenshannon")(_distribution(a), _distribution(b)),
}


def pair_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(pairs, D)`` and ``(pairs, D)`` → ``(pairs, len(DISTANCES))``, in the order of :data:`DISTANCES`."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two (pairs, D) arrays of one shape, got {a.shape} and {b.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.array([[f(x, y) for f in DISTANCES.values()] for x, y in zip(a, b, strict=True)])
    out = out.reshape(len(a), len(DISTANCES))
    return np.nan_to_num(out)  # scipy's correlation of a constant vector is 0/0: no evidence either way


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    fold: int | None = None


_TRUE, _FALSE = {"1", "same", "true", "yes"}, {"0", "-1", "not-same", "notsame", "different", "false", "no"}


def read_pairs(path: str | os.PathLike) -> list[Pair]:
    """``a b same [fold]`` lines (whitespace or commas; a header row such as ``video_a,video_b,same`` is skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"pair list not found: {path}")
    pairs = []
    with path.open(newline="") as f:
        for n, line in enumerate(f, start=1):
            cells = next(csv.reader([line])) if "," in line else line.split()
            cells = [c.strip() for c in cells if c.strip()]
            if not cells or (n == 1 and len(cells) > 2 and cells[2].lower() in ("same", "label", "match")
                             and cells[0].lower().startswith(("video", "a", "first"))):
                continue  # a header row
            if len(cells) not in (3, 4):
                raise DataError(f"{path}:{n}: expected VIDEO_A VIDEO_B SAME [FOLD], got {line.strip()!r}")
            same = cells[2].lower()
            if same not in _TRUE | _FALSE:
                raise DataError(f"{path}:{n}: SAME must be 1/0, same/not-same or true/false, got {cells[2]!r}")
            try:
                fold = int(cells[3]) if len(cells) == 4 else None
            except ValueError:
                raise DataError(f"{path}:{n}: FOLD must be an integer, got {cells[3]!r}") from None
            pairs.append(Pair(cells[0], cells[1], same in _TRUE, fold))
    if not pairs:
        raise DataError(f"{path} lists no pairs")
    if len({p.fold is None for p in pairs}) > 1:
        raise DataError(f"{path}: give a fold on every line or on none")
    return pairs


def video_vectors(features: Features) -> dict[str, np.ndarray]:
    """One vector per video (its rows averaged), under its path and its file stem."""
    out: dict[str, np.ndarray] = {}
    for v in np.unique(features.video):
        rows = features.video == v
        vector = features.features[rows].mean(0)
        path = str(features.path[rows][0])
        out[path] = vector
        out.setdefault(Path(path).stem, vector)
    return out


@dataclass
class SimilarityResult:
    accuracy: float  # mean over folds
    accuracy_std: float
    auc: float  # ROC AUC of the decision values, pooled over folds
    fold_accuracy: list[float]
    num_pairs: int
    dims: int  # distances × feature files

    def as_dict(self) -> dict:
        return asdict(self)


def pair_vectors(pairs: list[Pair], features: list[Features]) -> np.ndarray:
    """``(pairs, distances × files)``: every distance between a pair's videos, of each feature file."""
    blocks = []
    for f in features:
        vectors = video_vectors(f)
        missing = sorted({name for p in pairs for name in (p.a, p.b) if name not in vectors})
        if missing:
            raise DataError(f"{len(missing)} video(s) of the pair list have no features in {f.info.get('layer', 'a')} "
                            f"file (e.g. {missing[0]}); extract every video the pairs name")
        blocks.append(pair_distances(np.stack([vectors[p.a] for p in pairs]), np.stack([vectors[p.b] for p in pairs])))
    return np.concatenate(blocks, axis=1)


def similarity_eval(pairs: list[Pair], features: list[Features], *, C: float = 1.0, folds: int = 10,
                    seed: int = 0) -> SimilarityResult:
    """Same / not-same accuracy of a linear SVM on distance vectors, cross-validated over the pairs' folds (or
    ``folds`` stratified random ones)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import PredefinedSplit, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    x = pair_vectors(pairs, features)
    y = np.array([p.same for p in pairs], dtype=int)
    if len(set(y)) < 2:
        raise DataError("the pair list needs both same and not-same pairs")
    if pairs[0].fold is not None:
        splitter = PredefinedSplit(np.array([p.fold for p in pairs]))
    else:
        k = min(folds, int(np.bincount(y).min()))
        if k < 2:
            raise DataError("too few pairs of one kind for two folds")
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    decision = np.zeros(len(pairs))
    accuracies = []
    for train, test in splitter.split(x, y):
        if len(set(y[train])) < 2:
            raise DataError("a fold's training pairs are all of one kind: each fold needs same and not-same pairs")
        model = make_pipeline(StandardScaler(), LinearSVC(C=C, max_iter=20000, random_state=seed))
        model.fit(x[train], y[train])
        decision[test] = model.decision_function(x[test])
        accuracies.append(float(((decision[test] > 0).astype(int) == y[test]).mean()))
    return SimilarityResult(accuracy=float(np.mean(accuracies)), accuracy_std=float(np.std(accuracies)),
                            auc=float(roc_auc_score(y, decision)), fold_accuracy=accuracies, num_pairs=len(pairs),
                            dims=x.shape[1])
