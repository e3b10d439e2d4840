"""Losses, accuracy, mean average precision, confusion matrices and the plots of a run.

Single-label labels are class indices ``(B,)``; multi-label ones multi-hot float vectors ``(B, K)``. The loss,
the scores and top-k take either, so one loop serves both: cross-entropy and softmax for the first, binary
cross-entropy and sigmoid for the second (what AudioSet and Sports-1M are trained and reported with).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn


def is_multihot(labels: torch.Tensor) -> bool:
    """Multi-label targets: ``(B, K)`` multi-hot rows (class indices are ``(B,)``)."""
    return labels.dim() == 2


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0,
                        reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy for class indices; for multi-hot targets binary cross-entropy per class, summed over the
    classes and averaged over the batch (``reduction="sum"``: summed over both), so its scale does not shrink
    with the class count."""
    logits = logits.float()
    if not is_multihot(labels):
        return nn.functional.cross_entropy(logits, labels, label_smoothing=label_smoothing, reduction=reduction)
    target = labels.float()
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / 2
    per_video = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
    return per_video.sum() if reduction == "sum" else per_video.mean()


def is_multilabel_model(model: nn.Module) -> bool:
    """Whether the model scores its classes independently (trained on multi-label data: sigmoid, not softmax;
    ``model.multilabel``, which training sets and checkpoints keep)."""
    return bool(getattr(model, "multilabel", False))


def class_scores(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Probabilities from logits ``(B, K)``: sigmoid per class for a multi-label model, else softmax."""
    return logits.float().sigmoid() if multilabel else logits.float().softmax(1)


def topk_correct(logits_or_probs: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Per row: is the label among the ``k`` best scores (k capped at the class count); for multi-hot labels,
    is any of the ``k`` best a class of the video (hit@k)."""
    k = min(k, logits_or_probs.shape[1])
    best = logits_or_probs.topk(k, dim=1).indices
    if is_multihot(labels):
        return labels.gather(1, best).gt(0).any(dim=1)
    return (best == labels[:, None]).any(dim=1)


def average_precisions(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per class, the average precision of ``scores`` ``(N, K)`` against multi-hot ``targets`` ``(N, K)``
    (scikit-learn's, the area under the step precision-recall curve); NaN for a class without a positive."""
    from sklearn.metrics import average_precision_score

    out = np.full(scores.shape[1], np.nan)
    for c in np.flatnonzero(targets.sum(0) > 0):
        out[c] = average_precision_score(targets[:, c] > 0, scores[:, c])
    return out


def mean_of_aps(ap: np.ndarray) -> float:
    """The mean of per-class APs over the classes that have one (not NaN); NaN when none has."""
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """mAP: the mean of :func:`average_precisions` over the classes with a positive (AudioSet's and the G-Blend
    paper's measure); NaN when none has one."""
    return mean_of_aps(average_precisions(scores, targets))


def confusion_matrix(labels: Sequence[int], predictions: Sequence[int], num_classes: int) -> np.ndarray:
    """``m[i, j]``: videos of class i predicted as j."""
    m = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(m, (np.asarray(labels, int), np.asarray(predictions, int)), 1)
    return m


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    totals = matrix.sum(1)
    return np.divide(np.diag(matrix), totals, out=np.full(len(matrix), np.nan), where=totals > 0)


def write_confusion_csv(path: Path, matrix: np.ndarray, classes: Sequence[str]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *classes])
        for name, row in zip(classes, matrix, strict=True):
            writer.writerow([name, *row.tolist()])
    return path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(path: Path, matrix: np.ndarray, classes: Sequence[str]) -> Path:
    plt = pyplot()
    n = len(classes)
    size = min(4 + 0.35 * n, 24)
    fig, ax = plt.subplots(figsize=(size, size))
    normalised = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    if n <= 60:
        ax.set_xticks(range(n), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(n), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion (rows normalised)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_curves(path: Path, rows: Sequence[dict], title: str = "") -> Path:
    """Loss and top-1 per epoch, training and validation, side by side."""
    plt = pyplot()
    epochs = [r["epoch"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("train_loss", "train"), ("val_loss", "val")):
        values = [r.get(key) for r in rows]
        if any(v is not None and v == v for v in values):
            left.plot(epochs, values, marker="o", label=label)
    for key, label in (("train_top1", "train"), ("val_top1", "val (clip)")):
        values = [r.get(key) for r in rows]
        if any(v is not None and v == v for v in values):
            right.plot(epochs, values, marker="o", label=label)
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    right.set(xlabel="epoch", ylabel="top-1", title="accuracy", ylim=(0, 1))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
