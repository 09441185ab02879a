"""t-SNE view of two action classes in several feature spaces (thesis Fig. 3.8).

Fig. 3.8 shows *drink* (red) and *sitdown* (blue) embedded with t-SNE in the
short-term motion space (F2), the appearance space (F1) and their early
fusion (F1+F2), where the two classes separate best.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np

from .feature_bank import l2_normalize_rows


def embed_tsne(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of the L2-normalised rows of ``X``, shape (n, 2).

    Perplexity is ``min(30, (n - 1) / 3)`` so that small selections work.
    Up to 500 videos the exact gradient is used: faster than Barnes-Hut at
    that size, and free of OpenMP threads that crawl on a busy machine.
    """
    from sklearn.manifold import TSNE

    X = l2_normalize_rows(np.asarray(X, dtype=np.float64))
    n = X.shape[0]
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 videos, got {n}")
    perplexity = float(min(30.0, (n - 1) / 3.0))
    method = "exact" if n <= 500 else "barnes_hut"
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                method=method, max_iter=1000).fit_transform(X)


def plot_tsne(features_by_space: Dict[str, np.ndarray], labels: Sequence, classes_pair: Tuple,
              out_png, seed: int = 0) -> Path:
    """One t-SNE panel per feature space, the videos of two classes only (Fig. 3.8).

    Parameters
    ----------
    features_by_space : dict title -> ndarray (n_videos, d)
        E.g. ``{"F2 (short-term motion)": F2, "F1 (appearance)": F1,
        "F1+F2": np.hstack([l2(F1), l2(F2)])}``; panels follow the dict order.
    labels : sequence, shape (n_videos,)
        Class of every row.
    classes_pair : (a, b)
        The two classes shown (a in red, b in blue).
    out_png : str or Path
    seed : int
        t-SNE random state.

    Returns
    -------
    Path
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not features_by_space:
        raise ValueError("expected at least one feature space, got none")
    labels = np.asarray(labels)
    if len(classes_pair) != 2 or classes_pair[0] == classes_pair[1]:
        raise ValueError(f"expected two different classes, got {classes_pair!r}")
    a, b = classes_pair
    keep = np.isin(labels, [a, b])
    for name in classes_pair:
        if not np.any(labels == name):
            raise ValueError(f"class {name!r} has no video among the labels")
    fig = Figure(figsize=(4.2 * len(features_by_space), 4.2))
    FigureCanvasAgg(fig)
    for k, (title, X) in enumerate(features_by_space.items(), start=1):
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] != labels.shape[0]:
            raise ValueError(f"space {title!r}: expected shape ({labels.shape[0]}, d), "
                             f"got {X.shape}")
        Z = embed_tsne(X[keep], seed=seed)
        sub = labels[keep]
        ax = fig.add_subplot(1, len(features_by_space), k)
        for cls, colour in ((a, "tab:red"), (b, "tab:blue")):
            m = sub == cls
            ax.scatter(Z[m, 0], Z[m, 1], s=14, c=colour, label=str(cls))
        ax.set_title(str(title), fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if k == 1:
            ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    return out_png
