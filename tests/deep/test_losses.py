"""Attention regularisers (Eq. 4.8, 4.13, 4.21) and VPN's embedding losses
(Eq. 4.18-4.19, 4.22-4.23, Table 4.7), each against numbers worked out by hand."""
import math

import pytest
import torch

from adl.deep.losses import (EMBEDDING_LOSSES, attention_l2, attention_regularizer,
                             bikl_embedding, kl_embedding, kl_embedding_rev,
                             normalized_euclidean)


def test_attention_regularizer_by_hand():
    w = torch.tensor([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]])
    # sample 1: 0.25 + 0.5625 + 0.5625 = 1.375; sample 2: 0 + 1 + 1 = 2; mean 1.6875
    assert attention_regularizer(w, 1.0).item() == pytest.approx(1.6875)
    assert attention_regularizer(w, 1e-5).item() == pytest.approx(1.6875e-5)
    assert attention_regularizer(w, 2.0, reduction="sum").item() == pytest.approx(6.75)
    # any attention shape: (B, t, h) is summed over t and h
    assert attention_regularizer(w.reshape(2, 3, 1), 1.0).item() == pytest.approx(1.6875)
    assert attention_regularizer(torch.ones(4, 7), 1.0).item() == 0.0


def test_attention_l2_by_hand():
    w = torch.tensor([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]])
    # sample 1: 0.25 + 0.0625 + 0.0625 = 0.375; sample 2: 1; mean 0.6875
    assert attention_l2(w, 1.0).item() == pytest.approx(0.6875)
    assert attention_l2(w, 0.1, reduction="sum").item() == pytest.approx(0.1375)


def test_regularizer_gradient_pushes_weights_towards_one():
    w = torch.tensor([[0.2, 0.8]], requires_grad=True)
    attention_regularizer(w, 1.0).backward()
    # d/dw (1-w)^2 = -2(1-w)
    torch.testing.assert_close(w.grad, torch.tensor([[-1.6, -0.4]]))


def test_normalized_euclidean_by_hand():
    fe = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    pe = torch.tensor([[4.0, 3.0], [0.0, 2.0]])
    # sample 1: (0.6-0.8)^2 + (0.8-0.6)^2 = 0.08; sample 2: 1 + 1 = 2; mean 1.04
    assert normalized_euclidean(fe, pe, eps=0.0).item() == pytest.approx(1.04)
    assert normalized_euclidean(fe, pe, eps=0.0, reduction="sum").item() == pytest.approx(2.08)
    # Eq. 4.19's eps: ||(3,4)|| = sqrt(25 + 11) = 6, ||(4,3)|| = 6 -> (0.5-2/3)^2 * 2 = 1/18
    assert normalized_euclidean(fe[:1], pe[:1], eps=11.0).item() == pytest.approx(1 / 18)
    # scale invariance and zero for parallel embeddings
    assert normalized_euclidean(fe, 7 * fe).item() == pytest.approx(0.0, abs=1e-6)
    # the zero vector stays finite thanks to eps
    assert math.isfinite(normalized_euclidean(torch.zeros(1, 3), torch.ones(1, 3)).item())


def test_kl_by_hand():
    p = torch.tensor([[0.0, 0.0]])            # softmax (0.5, 0.5)
    q = torch.tensor([[math.log(3.0), 0.0]])  # softmax (0.75, 0.25)
    kl_pq = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)   # 0.1438410362
    kl_qp = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)  # 0.1308120359
    assert kl_pq == pytest.approx(0.1438410362) and kl_qp == pytest.approx(0.1308120359)
    assert kl_embedding(p, q).item() == pytest.approx(0.1438410362, rel=1e-5)
    assert kl_embedding(q, p).item() == pytest.approx(0.1308120359, rel=1e-5)
    assert kl_embedding_rev(p, q).item() == pytest.approx(0.1308120359, rel=1e-5)
    assert bikl_embedding(p, q).item() == pytest.approx(0.2746530721, rel=1e-5)
    # batch of two: the same pair and an identical pair (KL 0): mean halves, sum keeps
    p2, q2 = torch.cat([p, q]), torch.cat([q, q])
    assert kl_embedding(p2, q2).item() == pytest.approx(0.0719205181, rel=1e-5)
    assert kl_embedding(p2, q2, reduction="sum").item() == pytest.approx(0.1438410362, rel=1e-5)


def test_embedding_losses_dict_maps_table_4_7():
    torch.manual_seed(0)
    fe, pe = torch.randn(4, 8), torch.randn(4, 8)
    assert set(EMBEDDING_LOSSES) == {"l2", "kl", "kl_rev", "bikl"}
    assert EMBEDDING_LOSSES["l2"](fe, pe) == normalized_euclidean(fe, pe)
    assert EMBEDDING_LOSSES["kl"](fe, pe) == kl_embedding(fe, pe)
    assert EMBEDDING_LOSSES["kl_rev"](fe, pe) == kl_embedding(pe, fe)
    torch.testing.assert_close(EMBEDDING_LOSSES["bikl"](fe, pe),
                               kl_embedding(fe, pe) + kl_embedding(pe, fe))
    for fn in EMBEDDING_LOSSES.values():
        assert fn(fe, pe).item() > 0 and fn(fe, fe).item() == pytest.approx(0.0, abs=1e-6)


def test_embedding_loss_gradient_reaches_both_embeddings():
    fe = torch.tensor([[1.0, 2.0]], requires_grad=True)
    pe = torch.tensor([[2.0, 1.0]], requires_grad=True)
    normalized_euclidean(fe, pe).backward()
    assert fe.grad.abs().sum() > 0 and pe.grad.abs().sum() > 0


def test_errors():
    with pytest.raises(ValueError, match=r"attention_regularizer: expected attention weights "
                                         r"of shape \(B, \.\.\.\).*got shape \(3,\)"):
        attention_regularizer(torch.ones(3), 1.0)
    with pytest.raises(ValueError, match=r"attention_l2: expected attention weights"):
        attention_l2(torch.ones(3), 1.0)
    with pytest.raises(ValueError, match=r"expected reduction in \('mean', 'sum'\), got 'max'"):
        attention_regularizer(torch.ones(2, 3), 1.0, reduction="max")
    with pytest.raises(ValueError, match=r"normalized_euclidean: expected visual and pose "
                                         r"embeddings of the same shape \(B, De\), got \(2, 3\) "
                                         r"and \(2, 4\)"):
        normalized_euclidean(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"kl_embedding: expected .* got \(3,\) and \(3,\)"):
        kl_embedding(torch.ones(3), torch.ones(3))
