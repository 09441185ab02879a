"""The regularisers and embedding losses of the attention models (thesis ch. 4).

Attention regularisers
----------------------
* :func:`attention_regularizer` -- ``lam * sum_k (1 - w_k)^2``: Eq. 4.8's
  first term (P-I3D's part weights alpha_k), the temporal term of Eq. 4.13
  (Separable STA's beta_j) and of Eq. 4.21 (VPN's A_T).  It pushes every
  weight towards 1 so that no body part / time segment is ignored.
* :func:`attention_l2` -- ``lam * sum_j ||w_j||^2``: the spatial term of
  Eq. 4.13 (Separable STA's alpha_j) and of Eq. 4.21 (VPN's A_S), which keeps
  the spatial weights from exploding.  The thesis writes the two differently,
  so they are two functions.

Both sum over every non-batch dimension of the weights (the attention
dimension) and average over the batch.  (The author's VPN code regularises
``1e-5 * (1 - sum_j w_j)^2`` instead, ``/work/shared/deep/VPN.md``; we
implement the thesis's equations.)

Embedding losses (VPN, Eq. 4.17-4.19, 4.22-4.23, Table 4.7)
------------------------------------------------------------
Given the visual embedding ``fe = T_v g_s`` and the pose embedding
``pe = T_p z_1`` (both (B, De), Eq. 4.17):

* :func:`normalized_euclidean` -- Eq. 4.18-4.19, the thesis's choice;
* :func:`kl_embedding` -- Eq. 4.22 / 4.23.  The thesis writes the KL
  divergence directly on the embeddings, which are not distributions; we
  turn each embedding into one with a softmax over its De dimensions, then
  ``KL(p || q) = sum_d p_d (log p_d - log q_d)``;
* :func:`bikl_embedding` -- the bi-directional KL, ``KL(fe||pe) + KL(pe||fe)``.

Eq. 4.22-4.23 sum over the n samples; every loss here averages over the
batch instead (``reduction="mean"``, the default, keeps the loss's scale
independent of the batch size, as the cross-entropy it is added to in
Eq. 4.20); ``reduction="sum"`` gives the thesis's sum.

:data:`EMBEDDING_LOSSES` maps the names of Table 4.7's rows to functions of
``(fe, pe)``: ``"l2"`` (normalised Euclidean), ``"kl"`` (KL(fe||pe)),
``"kl_rev"`` (KL(pe||fe)), ``"bikl"``.
"""
from __future__ import annotations

from typing import Callable, Dict

import torch
from torch.nn import functional as F

__all__ = ["attention_regularizer", "attention_l2", "normalized_euclidean", "kl_embedding",
           "kl_embedding_rev", "bikl_embedding", "EMBEDDING_LOSSES"]

_REDUCTIONS = ("mean", "sum")


def _per_sample(weights: torch.Tensor, what: str) -> torch.Tensor:
    if weights.dim() < 2:
        raise ValueError(f"{what}: expected attention weights of shape (B, ...) with a batch "
                         f"dimension and at least one attention dimension, got shape "
                         f"{tuple(weights.shape)}")
    return weights.reshape(weights.shape[0], -1)


def _reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    raise ValueError(f"expected reduction in {_REDUCTIONS}, got {reduction!r}")


def attention_regularizer(weights: torch.Tensor, lam: float,
                          reduction: str = "mean") -> torch.Tensor:
    """``lam * sum_k (1 - w_k)^2`` per sample (Eq. 4.8, first term; Eq. 4.13
    and 4.21, temporal term), reduced over the batch.

    Parameters
    ----------
    weights : Tensor, shape (B, K) or (B, ...)
        Attention weights; all non-batch dimensions are summed over.
    lam : float
        The regularisation parameter (lambda_1 of Eq. 4.8, lambda_2 of 4.13).
    reduction : {"mean", "sum"}
        Over the batch.

    Returns
    -------
    Tensor, scalar
    """
    w = _per_sample(weights, "attention_regularizer")
    return lam * _reduce(((1.0 - w) ** 2).sum(dim=1), reduction)


def attention_l2(weights: torch.Tensor, lam: float, reduction: str = "mean") -> torch.Tensor:
    """``lam * sum_j ||w_j||^2`` per sample (Eq. 4.13 and 4.21, spatial term),
    reduced over the batch.

    Parameters
    ----------
    weights : Tensor, shape (B, m*n) or (B, ...)
        Spatial attention weights; all non-batch dimensions are summed over.
    lam : float
        lambda_1 of Eq. 4.13.
    reduction : {"mean", "sum"}

    Returns
    -------
    Tensor, scalar
    """
    w = _per_sample(weights, "attention_l2")
    return lam * _reduce((w ** 2).sum(dim=1), reduction)


def _check_pair(fe: torch.Tensor, pe: torch.Tensor, what: str) -> None:
    if fe.dim() != 2 or fe.shape != pe.shape:
        raise ValueError(f"{what}: expected visual and pose embeddings of the same shape "
                         f"(B, De), got {tuple(fe.shape)} and {tuple(pe.shape)}")


def normalized_euclidean(fe: torch.Tensor, pe: torch.Tensor, eps: float = 1e-8,
                         reduction: str = "mean") -> torch.Tensor:
    """The normalised Euclidean embedding loss of Eq. 4.18-4.19.

    ``|| fe / ||fe|| - pe / ||pe|| ||_2^2`` per sample, with
    ``||x|| = sqrt(sum_i x_i^2 + eps)`` (Eq. 4.19), reduced over the batch.
    Both embeddings lie on the unit hyper-sphere, so the loss lies in [0, 4].

    Parameters
    ----------
    fe, pe : Tensor, shape (B, De)
        Visual embedding ``T_v g_s`` and pose embedding ``T_p z_1`` (Eq. 4.17).
    eps : float
        Eq. 4.19's small positive value.
    reduction : {"mean", "sum"}

    Returns
    -------
    Tensor, scalar
    """
    _check_pair(fe, pe, "normalized_euclidean")
    fn = fe / torch.sqrt((fe ** 2).sum(dim=1, keepdim=True) + eps)
    pn = pe / torch.sqrt((pe ** 2).sum(dim=1, keepdim=True) + eps)
    return _reduce(((fn - pn) ** 2).sum(dim=1), reduction)


def kl_embedding(p: torch.Tensor, q: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``KL(softmax(p) || softmax(q))`` per sample (Eq. 4.22 with ``p = fe``,
    Eq. 4.23 with ``p = pe``), reduced over the batch.

    The softmax runs over the embedding dimension De and makes each embedding
    a distribution (the thesis applies the KL to the embeddings directly).

    Parameters
    ----------
    p, q : Tensor, shape (B, De)
    reduction : {"mean", "sum"}

    Returns
    -------
    Tensor, scalar
    """
    _check_pair(p, q, "kl_embedding")
    log_p = F.log_softmax(p, dim=1)
    log_q = F.log_softmax(q, dim=1)
    return _reduce((log_p.exp() * (log_p - log_q)).sum(dim=1), reduction)


def kl_embedding_rev(fe: torch.Tensor, pe: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``KL(softmax(pe) || softmax(fe))`` (Eq. 4.23), arguments in the
    ``(fe, pe)`` order of :data:`EMBEDDING_LOSSES`."""
    return kl_embedding(pe, fe, reduction=reduction)


def bikl_embedding(fe: torch.Tensor, pe: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The bi-directional KL ``KL(fe||pe) + KL(pe||fe)`` of Table 4.7, each
    term as in :func:`kl_embedding`."""
    return kl_embedding(fe, pe, reduction=reduction) + kl_embedding(pe, fe, reduction=reduction)


#: Table 4.7's embedding losses, each ``loss(fe, pe) -> scalar``.
EMBEDDING_LOSSES: Dict[str, Callable[..., torch.Tensor]] = {
    "l2": normalized_euclidean,
    "kl": kl_embedding,
    "kl_rev": kl_embedding_rev,
    "bikl": bikl_embedding,
}
