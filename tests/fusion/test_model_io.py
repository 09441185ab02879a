"""Saved fusion models: round trip, predict_video, refusal of foreign and
corrupted files (before anything is unpickled)."""
import pickle

import joblib
import numpy as np
import pytest

from adl.data.errors import AdlError
from adl.fusion.config import FusionConfig
from adl.fusion.model_io import (FORMAT_VERSION, MAGIC, FusionModel, ModelFileError, load_model,
                                 predict_video, save_model)
from adl.fusion.runner import fuse_fold, synthetic_folds


@pytest.fixture(scope="module")
def fold_result():
    fold = synthetic_folds(dataset="cad120", n_classes=4, n_subjects=3, videos_per_class=3,
                           dims={"f1": 24, "f2": 32, "f3": 12}, noise=1.5, seed=0)[0]
    return fold, fuse_fold(fold, FusionConfig(alpha_search=True, epsilon=0.2))


@pytest.fixture
def saved(tmp_path, fold_result):
    _, result = fold_result
    return save_model(tmp_path / "m.adlfusion", result.model)


def test_round_trip_predicts_like_the_run(saved, fold_result):
    fold, result = fold_result
    model = load_model(saved)
    assert isinstance(model, FusionModel) and model.classes == fold.classes
    assert model.families == ("f1", "f2", "f3")
    labels = []
    for row in fold.test_idx:
        label, scores = predict_video(model, {f: X[row] for f, X in fold.features.items()})
        assert scores.shape == (len(fold.classes),)
        assert label == fold.classes[int(np.argmax(scores))]
        labels.append(label)
    np.testing.assert_array_equal(labels, result.pred_after)


def test_saved_model_holds_training_rows_only(saved, fold_result):
    fold, _ = fold_result
    model = load_model(saved)
    n_train = len(fold.fit_idx) + len(fold.val_idx)
    assert len(model.fusion.clf1_.train_bank_) == n_train
    assert model.fusion.clf1_.train_bank_.families == ("f1", "f2")
    assert model.fusion.clf2_.train_bank_.families == ("f3",)
    for entry in model.memory.entries_:
        assert len(entry.bank) < n_train


def test_header_is_checked(saved):
    head = saved.read_bytes().split(b"\n", 1)[0].decode()
    assert head.startswith(f"{MAGIC} {FORMAT_VERSION} sha256=")


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.adlfusion")
    with pytest.raises(ModelFileError, match="found a directory"):
        load_model(tmp_path)


def test_foreign_pickle_is_refused_without_being_run(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "foreign.pkl"

    class Evil:
        def __reduce__(self):
            return (marker.touch, ())

    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelFileError, match="not an adl fusion model"):
        load_model(path)
    assert not marker.exists()
    joblib.dump({"a": 1}, tmp_path / "plain.joblib")
    with pytest.raises(ModelFileError, match="not an adl fusion model"):
        load_model(tmp_path / "plain.joblib")
    (tmp_path / "text.txt").write_text("hello\nworld\n")
    with pytest.raises(ModelFileError, match="not an adl fusion model"):
        load_model(tmp_path / "text.txt")


def test_corrupted_and_truncated_files(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    corrupt = tmp_path / "corrupt.adlfusion"
    data[-10] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupted"):
        load_model(corrupt)
    truncated = tmp_path / "truncated.adlfusion"
    truncated.write_bytes(saved.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(truncated)


def test_version_and_malformed_header(saved, tmp_path):
    head, payload = saved.read_bytes().split(b"\n", 1)
    future = tmp_path / "future.adlfusion"
    future.write_bytes(head.replace(f" {FORMAT_VERSION} ".encode(), b" 99 ") + b"\n" + payload)
    with pytest.raises(ModelFileError, match="version 99 is not supported"):
        load_model(future)
    # format 1 (adl 0.1): its pickled classes moved modules; the error says what to do
    old = tmp_path / "old.adlfusion"
    old.write_bytes(head.replace(f" {FORMAT_VERSION} ".encode(), b" 1 ") + b"\n" + payload)
    with pytest.raises(ModelFileError, match=r"old\.adlfusion: written by adl < 0\.2 \(format 1\); "
                                             r"re-run adl fuse --save-model$"):
        load_model(old)
    malformed = tmp_path / "malformed.adlfusion"
    malformed.write_bytes(f"{MAGIC} {FORMAT_VERSION} sha=1 size=x\n".encode() + payload)
    with pytest.raises(ModelFileError, match="malformed model header"):
        load_model(malformed)


def test_valid_header_wrong_payload_type(tmp_path):
    import hashlib
    import io

    buf = io.BytesIO()
    joblib.dump({"not": "a model"}, buf)
    payload = buf.getvalue()
    path = tmp_path / "dict.adlfusion"
    path.write_bytes(f"{MAGIC} {FORMAT_VERSION} sha256={hashlib.sha256(payload).hexdigest()} "
                     f"size={len(payload)}\n".encode() + payload)
    with pytest.raises(ModelFileError, match="expected a FusionModel payload, found dict"):
        load_model(path)


def test_errors_are_adl_errors():
    assert issubclass(ModelFileError, AdlError)


def test_save_model_type_check(tmp_path):
    with pytest.raises(TypeError, match="expected a FusionModel"):
        save_model(tmp_path / "x", {"model": 1})


def test_predict_video_input_checks(saved, fold_result):
    fold, _ = fold_result
    model = load_model(saved)
    row = {f: X[0] for f, X in fold.features.items()}
    with pytest.raises(ValueError, match=r"missing \['f3'\]"):
        predict_video(model, {"f1": row["f1"], "f2": row["f2"]})
    with pytest.raises(ValueError, match="expected 12 dimensions, got 5"):
        predict_video(model, dict(row, f3=np.zeros(5)))
    with pytest.raises(ValueError, match=r"one vector \(d,\) or \(1, d\)"):
        predict_video(model, dict(row, f1=np.zeros((2, 24))))
    with pytest.raises(TypeError, match="dict family"):
        predict_video(model, [row["f1"]])


def test_run_fusion_saves_one_model_per_fold(tmp_path):
    from adl.fusion.runner import run_fusion

    folds = synthetic_folds(n_classes=3, n_subjects=2, videos_per_class=4,
                            dims={"f1": 0, "f2": 0, "f3": 8}, seed=1)
    run_fusion(folds, tmp_path, save_model=True)
    files = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert files == ["subject_1.adlfusion", "subject_2.adlfusion"]
    model = load_model(tmp_path / "models" / "subject_2.adlfusion")
    assert model.families == ("f3",) and model.fusion.mode_ == "skeleton_only"
