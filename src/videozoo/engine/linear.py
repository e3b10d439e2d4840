"""Linear classifiers on extracted features: the C3D paper's protocol (a linear SVM), or logistic regression,
optionally after PCA (the paper's "52.8% on UCF101 with 10 dimensions").

:func:`linear_eval` fits on one feature file and scores another (UCF101's splits); :func:`linear_eval_cv`
cross-validates on one, folds over videos (the rows of a video never straddle a fold): leave-one-video-out,
the protocol of the scene-recognition sets YUPENN and Maryland Dynamic Scenes, or K stratified folds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .features import Features


@dataclass
class LinearEvalResult:
    clip_top1: float  # every row (clip) on its own
    video_top1: float  # the mean decision score over a video's rows
    num_train: int
    num_test: int
    num_test_videos: int
    dims: int  # feature dimensions the classifier saw (after PCA)
    classifier: str
    pca: int | None

    def as_dict(self) -> dict:
        return asdict(self)


def linear_eval(train: Features, test: Features, *, classifier: str = "svm", pca: int | None = None,
                C: float = 1.0, seed: int = 0) -> LinearEvalResult:
    """Fit on ``train`` rows, score ``test`` rows and videos."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if len(train) == 0 or len(test) == 0:
        raise ValueError("linear-eval needs features for both the training and the test set")
    if train.features.shape[1] != test.features.shape[1]:
        raise ValueError(f"training features have {train.features.shape[1]} dimensions, test features "
                         f"{test.features.shape[1]}: extract both from the same layer")
    if list(train.classes) != list(test.classes):
        raise ValueError("training and test features were labelled with different class lists")
    if classifier not in ("svm", "logistic"):
        raise ValueError(f"classifier must be 'svm' or 'logistic', got {classifier!r}")
    dims = train.features.shape[1]
    if pca is not None and not 1 <= pca <= min(dims, len(train)):
        raise ValueError(f"pca must be between 1 and {min(dims, len(train))} (features × training rows), got {pca}")
    steps = [PCA(n_components=pca, random_state=seed)] if pca else []
    model = (LinearSVC(C=C, max_iter=20000, random_state=seed) if classifier == "svm"
             else LogisticRegression(C=C, max_iter=5000))
    pipeline = make_pipeline(*steps, StandardScaler(), model)
    pipeline.fit(train.features, train.label)
    scores = pipeline.decision_function(test.features)
    if scores.ndim == 1:  # two classes: one score column
        scores = np.stack([-scores, scores], axis=1)
    fitted = pipeline[-1].classes_
    clip_pred = fitted[scores.argmax(1)]
    videos = np.unique(test.video)
    video_scores = np.stack([scores[test.video == v].mean(0) for v in videos])
    video_labels = np.array([test.label[test.video == v][0] for v in videos])
    return LinearEvalResult(
        clip_top1=float((clip_pred == test.label).mean()),
        video_top1=float((fitted[video_scores.argmax(1)] == video_labels).mean()),
        num_train=len(train), num_test=len(test), num_test_videos=len(videos), dims=pca or dims,
        classifier=classifier, pca=pca,
    )


@dataclass
class CrossValResult:
    clip_top1: float  # pooled over the folds: every row scored by the fold that held its video out
    video_top1: float
    fold_video_top1: list[float]
    num_videos: int
    folds: int
    dims: int
    classifier: str
    pca: int | None

    def as_dict(self) -> dict:
        return {**asdict(self), "fold_std": float(np.std(self.fold_video_top1))}


def _subset(f: Features, rows: np.ndarray) -> Features:
    return Features(f.features[rows], f.video[rows], f.clip[rows], f.label[rows], f.path[rows], f.classes, f.info)


def linear_eval_cv(features: Features, folds: int | str = "loo", *, classifier: str = "svm", pca: int | None = None,
                   C: float = 1.0, seed: int = 0) -> CrossValResult:
    """Cross-validated :func:`linear_eval` on one feature file: ``folds="loo"`` holds out one video at a time,
    an integer K splits the videos into K folds stratified by class (shuffled with ``seed``)."""
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

    if len(features) == 0:
        raise ValueError("cross-validation needs a feature file with rows")
    videos = np.unique(features.video)
    if folds == "loo":
        splitter = LeaveOneGroupOut()
    else:
        if not isinstance(folds, int) or not 2 <= folds <= len(videos):
            raise ValueError(f"folds must be 'loo' or an integer from 2 to the {len(videos)} videos, got {folds!r}")
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    clip_hits = video_hits = 0
    per_fold = []
    for train_rows, test_rows in splitter.split(features.features, features.label, groups=features.video):
        r = linear_eval(_subset(features, train_rows), _subset(features, test_rows), classifier=classifier, pca=pca,
                        C=C, seed=seed)
        clip_hits += r.clip_top1 * r.num_test
        video_hits += r.video_top1 * r.num_test_videos
        per_fold.append(r.video_top1)
    return CrossValResult(clip_top1=clip_hits / len(features), video_top1=video_hits / len(videos),
                          fold_video_top1=per_fold, num_videos=len(videos), folds=len(per_fold),
                          dims=pca or features.features.shape[1], classifier=classifier, pca=pca)
