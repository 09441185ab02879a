"""``adl.deep.evaluate``: max-pooling the softmax over a video's clips
(thesis 4.6.1), top-1 and mean per-class accuracy, the files of a run
(report.json, scores.npz, confusion.png), leave-one-subject-out pooling and
the refusals (other data, other split, no best.pt)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from adl.deep.evaluate import (CONFUSION_NAME, REPORT_NAME, SCORES_NAME, accuracy_report,
                               evaluate, evaluate_protocol)
from adl.deep.models.base import DeepModel, ModelConfig, ModelOutput, ModelSpec, register_model
from adl.deep.train import BEST_NAME, TrainConfig, score_videos, split_run_dirs, train

from deep_toys import toy_data

class ToyPoseEval(DeepModel):
    """A linear layer on the flattened poses."""

    inputs = ("poses",)

    def __init__(self, config):
        super().__init__(config)
        c = config
        self.encoder = nn.Linear(c.tp * c.persons * c.n_joints * 3, 16)
        self.head = nn.Linear(16, c.n_classes)

    def forward(self, batch):
        return ModelOutput(logits=self.head(torch.relu(self.encoder(batch["poses"].flatten(1)))))


register_model(ModelSpec("toy-pose-eval", ModelConfig, ToyPoseEval, "test model: linear on poses"))

QUIET = dict(log=lambda m: None)
CFG = TrainConfig(epochs=12, lr=0.01, batch_size=4, device="cpu", seed=0)


def test_accuracy_report_gives_top1_and_mean_per_class():
    labels = np.array([0, 0, 0, 0, 1, 2])
    preds = np.array([0, 0, 0, 1, 0, 2])
    r = accuracy_report(labels, preds, ["a", "b", "c", "d"])
    assert r["top1"] == pytest.approx(100 * 4 / 6)
    assert r["per_class"] == {"a": 75.0, "b": 0.0, "c": 100.0}      # "d" has no test video
    assert r["mean_class_accuracy"] == pytest.approx((75 + 0 + 100) / 3)


def test_accuracy_report_refuses_bad_input():
    with pytest.raises(ValueError, match="expected labels and predictions of one shape"):
        accuracy_report(np.zeros(3, int), np.zeros(2, int), ["a"])
    with pytest.raises(ValueError, match="expected at least one test video, got none"):
        accuracy_report(np.zeros(0, int), np.zeros(0, int), ["a"])


class _Identity(DeepModel):
    inputs = ("gap",)

    def forward(self, batch):
        return ModelOutput(logits=batch["gap"])


class _Clips(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        logits, label, video = self.items[i]
        return {"gap": torch.tensor(logits, dtype=torch.float32)}, label, video


def test_clip_softmax_is_max_pooled_and_logits_averaged_per_video():
    clips = [([2.0, 0.0, 0.0], 0, 5), ([0.0, 3.0, 0.0], 0, 5), ([0.0, 0.0, 1.0], 2, 1),
             ([1.0, 1.0, 4.0], 0, 5)]
    videos, labels, probs, logits = score_videos(_Identity(ModelConfig(n_classes=3)),
                                                 _Clips(clips), torch.device("cpu"),
                                                 batch_size=3)
    assert videos.tolist() == [1, 5] and labels.tolist() == [2, 0]
    soft = torch.softmax(torch.tensor([c[0] for c in clips], dtype=torch.float64), 1).numpy()
    np.testing.assert_allclose(probs[1], np.max(soft[[0, 1, 3]], axis=0))
    np.testing.assert_allclose(probs[0], soft[2])
    np.testing.assert_allclose(logits[1], [1.0, 4 / 3, 4 / 3])
    # the max-pooled video is "class 1" although its mean logit ties classes 1 and 2
    assert probs[1].argmax() == 1


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """toy-pose-eval trained on every leave-one-subject-out split of the toy data."""
    torch.set_num_threads(1)
    data = toy_data()
    root = tmp_path_factory.mktemp("eval") / "toy-pose-eval"
    splits = data.splits("loso")
    dirs = split_run_dirs(root, splits)
    for s in splits:
        train("toy-pose-eval", None, CFG, data, s, dirs[s.name], **QUIET)
    return data, root, splits, dirs


def test_a_split_report_and_its_files(trained):
    data, root, splits, dirs = trained
    split = splits[0]
    report = evaluate(dirs[split.name], data, split, "cpu", protocol="loso")
    run = dirs[split.name]
    on_disk = json.loads((run / REPORT_NAME).read_text())
    assert set(on_disk) >= {"model", "dataset", "protocol", "top1", "mean_class_accuracy",
                            "per_class", "config", "n_test_videos", "seconds"}
    assert on_disk["model"] == "toy-pose-eval" and on_disk["dataset"] == "nucla"
    assert on_disk["protocol"] == "loso" and on_disk["n_test_videos"] == split.test.size
    assert set(on_disk["config"]) == {"model", "train"}
    assert on_disk["config"]["train"] == CFG.to_dict()
    assert on_disk["config"]["model"]["n_classes"] == 3
    assert 0 <= on_disk["top1"] <= 100 and 0 <= on_disk["mean_class_accuracy"] <= 100
    assert all(0 <= v <= 100 for v in on_disk["per_class"].values())
    assert report["top1"] == on_disk["top1"]
    with np.load(run / SCORES_NAME) as z:
        assert z["video_ids"].tolist() == [data.video_ids[v] for v in split.test]
        assert z["labels"].tolist() == data.labels[split.test].tolist()
        assert z["probs"].shape == z["logits"].shape == (split.test.size, 3)
        np.testing.assert_allclose(z["probs"].sum(1), 1.0)
        assert 100 * np.mean(z["probs"].argmax(1) == z["labels"]) == pytest.approx(report["top1"])
    assert (run / CONFUSION_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the toy's classes are easy: the kept weights recognise the held-out subject
    assert report["top1"] >= 80


def test_loso_pools_every_test_video(trained):
    data, root, splits, dirs = trained
    report = evaluate_protocol(root, data, "loso", "cpu")
    assert report["n_test_videos"] == len(data)
    assert set(report["splits"]) == {s.name for s in splits}
    split_reports = [json.loads((dirs[s.name] / REPORT_NAME).read_text()) for s in splits]
    pooled = sum(r["top1"] * r["n_test_videos"] for r in split_reports) / len(data)
    assert report["top1"] == pytest.approx(pooled)
    with np.load(root / SCORES_NAME) as z:
        assert sorted(z["video_ids"].tolist()) == sorted(data.video_ids)
        per_class = [100 * np.mean(z["probs"].argmax(1)[z["labels"] == c] == c) for c in range(3)]
    assert report["mean_class_accuracy"] == pytest.approx(np.mean(per_class))
    assert json.loads((root / REPORT_NAME).read_text())["protocol"] == "loso"
    assert (root / CONFUSION_NAME).is_file()


def test_other_data_another_split_or_no_checkpoint_is_refused(trained, tmp_path):
    data, root, splits, dirs = trained
    other = toy_data(prefix="w")
    with pytest.raises(ValueError, match="was trained on other data: data fingerprint"):
        evaluate(dirs[splits[0].name], other, other.splits("loso")[0], "cpu")
    with pytest.raises(ValueError, match="split 'subject_1' in the file, 'subject_2' here"):
        evaluate(dirs[splits[0].name], data, splits[1], "cpu")
    with pytest.raises(FileNotFoundError, match=f"no {BEST_NAME} in .*; train the model first"):
        evaluate(tmp_path, data, splits[0], "cpu")
