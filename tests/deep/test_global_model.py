"""The Global Model (thesis 5.3): score fusion of the Basic and Temporal
Models, the scores.npz reader and the accuracy report."""
from __future__ import annotations

import numpy as np
import pytest

from adl.data.errors import DataFormatError
from adl.deep.global_model import fuse_runs, fuse_scores, global_report, load_scores

B = np.array([[0.7, 0.2, 0.1],
              [0.1, 0.3, 0.6]])
T = np.array([[0.2, 0.5, 0.3],
              [0.2, 0.6, 0.2]])


def write_scores(path, ids, labels, probs, logits=None):
    probs = np.asarray(probs, dtype=np.float64)
    if logits is None:
        logits = np.log(np.maximum(probs, 1e-30))
    np.savez(path, video_ids=np.asarray(ids), labels=np.asarray(labels), probs=probs,
             logits=logits)
    return path


def test_product_fusion_by_hand():
    # row 1: 0.14, 0.10, 0.03 (sum 0.27); row 2: 0.02, 0.18, 0.12 (sum 0.32)
    want = np.array([[14 / 27, 10 / 27, 3 / 27],
                     [2 / 32, 18 / 32, 12 / 32]])
    got = fuse_scores(B, T)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got.sum(1), 1.0)


def test_product_fusion_is_the_softmax_of_summed_logits():
    zb = np.array([[2.0, 0.0, -1.0]])
    zt = np.array([[0.0, 1.0, 0.5]])
    pb = np.exp(zb) / np.exp(zb).sum()
    pt = np.exp(zt) / np.exp(zt).sum()
    s = np.exp(zb + zt)                     # 2, 1, -0.5
    np.testing.assert_allclose(fuse_scores(pb, pt), s / s.sum(), rtol=1e-12)


def test_logsum_fusion_by_hand():
    # w = 0.5: square roots of the products 0.14, 0.10, 0.03, renormalised
    r = np.sqrt([0.14, 0.10, 0.03])
    np.testing.assert_allclose(fuse_scores(B, T, mode="logsum")[0], r / r.sum(), rtol=1e-12)
    np.testing.assert_allclose(r / r.sum(), [0.433263, 0.366174, 0.200562], atol=1e-6)
    # w = 0.75: 0.7^.75 0.2^.25, 0.2^.75 0.5^.25, 0.1^.75 0.3^.25
    q = np.array([0.7 ** 0.75 * 0.2 ** 0.25, 0.2 ** 0.75 * 0.5 ** 0.25, 0.1 ** 0.75 * 0.3 ** 0.25])
    np.testing.assert_allclose(fuse_scores(B, T, mode="logsum", weight=0.75)[0], q / q.sum(),
                               rtol=1e-12)
    # w = 1 is the Basic Model alone, w = 0 the Temporal Model alone
    np.testing.assert_allclose(fuse_scores(B, T, mode="logsum", weight=1.0), B, rtol=1e-12)
    np.testing.assert_allclose(fuse_scores(B, T, mode="logsum", weight=0.0), T, rtol=1e-12)


def test_zero_probability_does_not_give_nan():
    b = np.array([[1.0, 0.0], [0.0, 1.0]])
    t = np.array([[0.0, 1.0], [0.0, 1.0]])
    for mode in ("product", "logsum"):
        f = fuse_scores(b, t, mode=mode)
        assert np.isfinite(f).all()
        np.testing.assert_allclose(f.sum(1), 1.0)
    np.testing.assert_allclose(fuse_scores(b, t)[1], [0.0, 1.0], atol=1e-20)
    # both products zero: the floor EPS on each side makes the row uniform
    np.testing.assert_allclose(fuse_scores(b, t)[0], [0.5, 0.5])


def test_product_of_identical_models_keeps_their_argmax():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 7)) * 3
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    p_max_pooled = p * rng.uniform(0.5, 1.0, size=(50, 1))   # rows need not sum to 1
    for q in (p, p_max_pooled):
        np.testing.assert_array_equal(fuse_scores(q, q).argmax(1), q.argmax(1))
        np.testing.assert_array_equal(fuse_scores(q, q, mode="logsum").argmax(1), q.argmax(1))


@pytest.mark.parametrize("kw,match", [
    (dict(mode="dot"), "expected mode one of product, logsum, got 'dot'"),
    (dict(weight=1.5), r"expected weight in \[0, 1\], got 1.5"),
])
def test_fuse_scores_refuses_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        fuse_scores(B, T, **kw)


def test_fuse_scores_refuses_bad_arrays():
    with pytest.raises(ValueError, match=r"expected basic and temporal scores of the same shape "
                                         r"\(V, C\), got \(2, 3\) and \(2, 2\)"):
        fuse_scores(B, T[:, :2])
    with pytest.raises(ValueError, match=r"basic: expected a non-empty \(V, C\) array .* got "
                                         r"shape \(3,\)"):
        fuse_scores(B[0], T)
    with pytest.raises(ValueError, match=r"temporal: .* got a negative value \(-0.3\)"):
        fuse_scores(B, -T / 2)
    with pytest.raises(ValueError, match="temporal: .* got non-finite values"):
        fuse_scores(B, T * np.nan)


def test_fuse_runs_fuses_and_keeps_ids_and_labels(tmp_path):
    b = write_scores(tmp_path / "basic.npz", ["v1", "v2"], [0, 2], B)
    t = write_scores(tmp_path / "temporal.npz", ["v1", "v2"], [0, 2], T)
    fused = fuse_runs(b, t)
    assert fused.video_ids.tolist() == ["v1", "v2"]
    assert fused.labels.tolist() == [0, 2]
    np.testing.assert_allclose(fused.probs, fuse_scores(B, T))
    assert (fused.mode, fused.weight) == ("product", 0.5)
    fl = fuse_runs(b, t, mode="logsum", weight=0.25, source="logits")
    # the stored logits are log B and log T: their softmax is B and T again
    np.testing.assert_allclose(fl.probs, fuse_scores(B, T, mode="logsum", weight=0.25))
    rep = global_report(fused.probs, fused.labels)
    assert rep["top1"] == 50.0          # v1 -> 0 right, v2 -> 1 wrong


def test_fuse_runs_uses_the_chosen_source(tmp_path):
    logits = np.array([[0.0, 3.0, 0.0], [0.0, 3.0, 0.0]])
    b = write_scores(tmp_path / "b.npz", ["a", "b"], [0, 1], B, logits=logits)
    t = write_scores(tmp_path / "t.npz", ["a", "b"], [0, 1], B, logits=logits)
    assert fuse_runs(b, t).probs.argmax(1).tolist() == [0, 2]
    assert fuse_runs(b, t, source="logits").probs.argmax(1).tolist() == [1, 1]
    with pytest.raises(ValueError, match="expected source one of probs, logits, got 'maps'"):
        fuse_runs(b, t, source="maps")


def test_misaligned_runs_are_refused(tmp_path):
    b = write_scores(tmp_path / "basic.npz", ["v1", "v2", "v3"], [0, 1, 2], np.eye(3))
    other_set = write_scores(tmp_path / "t_set.npz", ["v1", "v2", "v9"], [0, 1, 2], np.eye(3))
    with pytest.raises(ValueError, match=r"basic .*basic.npz and temporal .*t_set.npz score "
                                         r"different videos .*'v3' only in basic"):
        fuse_runs(b, other_set)
    shorter = write_scores(tmp_path / "t_short.npz", ["v1", "v2"], [0, 1], np.eye(3)[:2])
    with pytest.raises(ValueError, match=r"t_short.npz score different videos \(1 only in basic, "
                                         r"0 only in temporal; e.g. 'v3' only in basic\)"):
        fuse_runs(b, shorter)
    other_order = write_scores(tmp_path / "t_order.npz", ["v2", "v1", "v3"], [1, 0, 2],
                               np.eye(3))
    with pytest.raises(ValueError, match=r"basic.npz and temporal .*t_order.npz list the same "
                                         r"videos in a different order \(position 0: 'v1' in "
                                         r"basic, 'v2' in temporal\)"):
        fuse_runs(b, other_order)
    other_label = write_scores(tmp_path / "t_label.npz", ["v1", "v2", "v3"], [0, 1, 1],
                               np.eye(3))
    with pytest.raises(ValueError, match="t_label.npz disagree on the label of 'v3': 2 in basic, "
                                         "1 in temporal"):
        fuse_runs(b, other_label)
    other_c = write_scores(tmp_path / "t_c.npz", ["v1", "v2", "v3"], [0, 1, 2], np.ones((3, 4)))
    with pytest.raises(ValueError, match="expected the same number of classes, got 3 and 4"):
        fuse_runs(b, other_c)


def test_load_scores_refuses_bad_files(tmp_path):
    with pytest.raises(DataFormatError, match=r"nope.npz: expected a readable scores.npz"):
        load_scores(tmp_path / "nope.npz")
    np.savez(tmp_path / "nokey.npz", video_ids=np.array(["a"]), labels=np.array([0]),
             probs=np.ones((1, 2)))
    with pytest.raises(DataFormatError, match=r"nokey.npz: expected keys video_ids, labels, "
                                              r"probs, logits, found no logits"):
        load_scores(tmp_path / "nokey.npz")
    write_scores(tmp_path / "shape.npz", ["a", "b"], [0], np.ones((2, 2)))
    with pytest.raises(DataFormatError, match=r"shape.npz: expected video_ids \(V,\), labels "
                                              r"\(V,\).*found video_ids \(2,\), labels \(1,\)"):
        load_scores(tmp_path / "shape.npz")
    write_scores(tmp_path / "dup.npz", ["a", "b", "a"], [0, 1, 0], np.ones((3, 2)))
    with pytest.raises(DataFormatError, match="dup.npz: expected each video id once, found 'a' "
                                              "more than once"):
        load_scores(tmp_path / "dup.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="junk.npz: expected a readable scores.npz, found"):
        load_scores(tmp_path / "junk.npz")


def test_global_report_by_hand():
    probs = np.array([[0.9, 0.1, 0.0],    # label 0, right
                      [0.2, 0.8, 0.0],    # label 0, wrong
                      [0.1, 0.2, 0.7],    # label 2, right
                      [0.0, 0.1, 0.9]])   # label 2, right
    rep = global_report(probs, [0, 0, 2, 2])
    assert rep["top1"] == 75.0
    assert rep["per_class"] == {0: 50.0, 2: 100.0}
    assert rep["mean_class_accuracy"] == 75.0
    assert rep["n_videos"] == 4
    rep = global_report(probs[1:], [0, 2, 2], class_names=["drink", "eat", "walk"])
    assert rep["per_class"] == {"drink": 0.0, "walk": 100.0}
    assert rep["top1"] == pytest.approx(200 / 3)
    assert rep["mean_class_accuracy"] == 50.0


def test_global_report_refuses_bad_input():
    p = np.ones((2, 3)) / 3
    with pytest.raises(ValueError, match=r"expected probs \(V, C\) with V > 0 and labels \(V,\), "
                                         r"got probs \(2, 3\) and labels \(3,\)"):
        global_report(p, [0, 1, 2])
    with pytest.raises(ValueError, match="expected 3 class names, got 2"):
        global_report(p, [0, 1], class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"expected labels in \[0, 2\], got values from 0 to 3"):
        global_report(p, [0, 3])
