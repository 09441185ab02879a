"""A scikit-learn style classifier around the deep stage's models, for tests
and notebooks: arrays in, predictions out, no cache and no run folder.

The training loop is :func:`adl.deep.train.fit_epoch` with the thesis's
optimiser (Adam, the rate x0.1 every 10 epochs, 4.6.1); there is no
validation split and no early stopping (the estimator fits what it is given;
:func:`adl.deep.train.train` is the full procedure).
"""
from __future__ import annotations

from dataclasses import fields
from typing import Dict, Optional

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["DeepClassifier"]


class _ArraySamples:
    """``(dict of tensors, label, index)`` items over arrays (the
    :class:`adl.deep.inputs.DeepSamples` protocol)."""

    def __init__(self, X: Dict[str, np.ndarray], y: np.ndarray):
        import torch
        self.X = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in X.items()}
        self.y = np.asarray(y, dtype=np.int64)

    def __len__(self):
        return int(self.y.shape[0])

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.X.items()}, int(self.y[i]), int(i)


class DeepClassifier(ClassifierMixin, BaseEstimator):
    """A registered deep model (:func:`adl.deep.models.base.list_models`)
    trained on arrays.

    Parameters
    ----------
    model : str
        The registered model's name.
    model_params : dict or None
        Its configuration's fields (:class:`~adl.deep.models.base.ModelConfig`
        subclass); ``n_classes`` comes from ``y``; ``feature_dim`` from
        ``gap`` / ``maps`` / ``parts``, ``tp`` / ``persons`` / ``n_joints``
        from ``poses`` (B, tp, M, J, 3) and ``map_size`` from ``maps`` when
        the configuration has those fields and ``model_params`` does not set
        them.
    epochs : int
    lr : float
        Adam's initial rate (x0.1 every 10 epochs, thesis 4.6.1).
    batch_size : int
    device : str
        ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
    random_state : int
        Seeds the initial weights, shuffling and dropout.

    Attributes
    ----------
    model_ : DeepModel
        The trained network (eval mode).
    classes_ : ndarray
        The labels seen in ``fit``.
    inputs_ : tuple of str
        The keys of ``X`` the model reads.
    history_ : list of dict
        Mean loss terms per epoch.
    """

    def __init__(self, model="i3d", model_params=None, epochs=30, lr=0.01, batch_size=32,
                 device="cpu", random_state=0):
        self.model = model
        self.model_params = model_params
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state

    def _config(self, spec, X: Dict[str, np.ndarray], n_classes: int):
        names = {f.name for f in fields(spec.config_cls)}
        values = dict(self.model_params or {})
        inferred = {"n_classes": n_classes}
        for key in ("gap", "maps", "parts"):
            if key in X:
                inferred["feature_dim"] = int(np.shape(X[key])[1 if key != "parts" else 2])
                break
        if "poses" in X:
            shape = np.shape(X["poses"])
            if len(shape) != 5:
                raise ValueError(f"expected X['poses'] of shape (N, tp, M, J, 3), got {shape}")
            inferred.update(tp=int(shape[1]), persons=int(shape[2]), n_joints=int(shape[3]))
        if "maps" in X:
            inferred["map_size"] = tuple(int(s) for s in np.shape(X["maps"])[2:])
        for key, value in inferred.items():
            if key in names and key not in values:
                values[key] = value
        return spec.config_cls.from_dict(values)

    def _check_X(self, X, n: Optional[int] = None) -> Dict[str, np.ndarray]:
        if not isinstance(X, dict) or not X:
            raise ValueError(f"expected X as a non-empty dict of arrays (batch key -> (N, ...)),"
                             f" got {type(X).__name__}")
        sizes = {k: int(np.shape(v)[0]) for k, v in X.items()}
        if len(set(sizes.values())) != 1 or (n is not None and set(sizes.values()) != {n}):
            raise ValueError(f"expected every array of X to hold the same number of samples"
                             f"{'' if n is None else f' ({n}, as y)'}, got {sizes}")
        return X

    def fit(self, X, y):
        """Train on ``X`` (dict of (N, ...) arrays) and labels ``y`` (N,).

        Returns
        -------
        self
        """
        import torch
        from torch.utils.data import DataLoader

        from .device import resolve_device
        from .models.base import get_model_spec
        from .train import _WithLoss, collate_samples, fit_epoch

        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"expected y of shape (N,), got {y.shape}")
        X = self._check_X(X, y.shape[0])
        self.classes_, encoded = np.unique(y, return_inverse=True)
        spec = get_model_spec(self.model)
        config = self._config(spec, X, len(self.classes_))
        device = resolve_device(self.device)
        torch.manual_seed(self.random_state)
        net = spec.build(config).to(device)
        missing = [k for k in net.required_inputs() if k not in X]
        if missing:
            raise ValueError(f"model {self.model} reads X[{', '.join(map(repr, missing))}], "
                             f"which X lacks (it has {', '.join(sorted(X))})")
        self.inputs_ = tuple(net.required_inputs())
        data = _ArraySamples({k: X[k] for k in self.inputs_}, encoded)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)
        module = _WithLoss(net)
        self.history_ = []
        for epoch in range(self.epochs):
            gen = torch.Generator().manual_seed(self.random_state * 100003 + epoch)
            loader = DataLoader(data, batch_size=self.batch_size, shuffle=True, generator=gen,
                                collate_fn=collate_samples)
            sums, n = fit_epoch(module, loader, optimizer, device)
            scheduler.step()
            self.history_.append({k: v / max(n, 1) for k, v in sums.items()})
        net.eval()
        self.model_ = net
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Softmax of each sample, (N, n_classes), columns in ``classes_`` order."""
        import torch
        from .train import collate_samples
        check_is_fitted(self)
        X = self._check_X(X)
        data = _ArraySamples({k: X[k] for k in self.inputs_},
                             np.zeros(int(np.shape(X[self.inputs_[0]])[0]), np.int64))
        device = next(self.model_.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(data), max(int(self.batch_size), 1)):
                batch, _, _ = collate_samples([data[i] for i in
                                               range(start, min(start + self.batch_size,
                                                                len(data)))])
                batch = {k: v.to(device) for k, v in batch.items()}
                out.append(torch.softmax(self.model_(batch).logits.double(), 1).cpu().numpy())
        return np.concatenate(out)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample, (N,)."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
