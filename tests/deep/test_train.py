"""``adl.deep.train``: the training configuration (thesis 4.6.1, 5.4.1), a
run's files and progress lines, early stopping, resume after a SIGKILL to the
same final weights, refused checkpoints of other runs, pose-backbone
pre-training and a spy proving that no test video reaches training.

Most tests train on in-memory poses (:class:`adl.deep.inputs.DeepData`'s
constructor path) where a joint's motion tells the class; the kill test runs
in a child process on a synthetic N-UCLA dataset read from its skeletons.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from adl.deep.inputs import DeepData, DeepSamples
from adl.deep.models.base import DeepModel, ModelConfig, ModelOutput, ModelSpec, register_model
from adl.deep.train import (BEST_NAME, CHECKPOINT_NAME, MODEL_TRAIN_DEFAULTS, TrainConfig,
                            load_checkpoint, make_model_config, split_run_dirs, train)
from adl.deep.models.base import get_model_spec

from deep_toys import toy_data

QUIET = dict(log=lambda m: None)


class ToyPose(DeepModel):
    """A linear layer on the flattened poses (plus dropout): fast and learnable;
    ``load_pose_backbone`` records what it was given."""

    inputs = ("poses",)

    def __init__(self, config):
        super().__init__(config)
        c = config
        self.encoder = nn.Linear(c.tp * c.persons * c.n_joints * 3, 16)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(16, c.n_classes)
        self.loaded = None

    def forward(self, batch):
        x = batch["poses"].flatten(1)
        return ModelOutput(logits=self.head(self.drop(torch.relu(self.encoder(x)))))

    def load_pose_backbone(self, state_dict):
        self.loaded = dict(state_dict)


register_model(ModelSpec("toy-pose", ModelConfig, ToyPose, "test model: linear on poses"))


def fast(**over):
    base = dict(epochs=4, lr=0.01, batch_size=4, device="cpu", seed=0)
    base.update(over)
    return TrainConfig(**base)


def first_split(data):
    return data.splits("loso")[0]


# -- configuration ------------------------------------------------------------------

def test_the_defaults_are_the_thesis_training_recipe():
    c = TrainConfig()
    assert (c.epochs, c.lr, c.lr_step, c.lr_gamma) == (30, 0.01, 10, 0.1)        # 4.6.1
    assert (c.val_fraction, c.batch_size, c.seed, c.device) == (0.1, 32, 0, "auto")
    t = TrainConfig.for_model("temporal")                                        # 5.4.1
    assert (t.lr, t.batch_size, t.lr_gamma) == (5e-4, 32, 1.0)
    assert TrainConfig.for_model("temporal", lr=0.1, epochs=None).lr == 0.1
    assert TrainConfig.for_model("vpn") == TrainConfig()
    assert set(MODEL_TRAIN_DEFAULTS) == {"temporal"}
    assert TrainConfig.from_dict(fast().to_dict()) == fast()


@pytest.mark.parametrize("field, value, match", [
    ("epochs", 0, "epochs to be an integer >= 1"),
    ("lr", -1.0, "expected lr > 0"),
    ("lr_gamma", 1.5, "0 < lr_gamma <= 1"),
    ("val_fraction", 1.0, "0 <= val_fraction < 1"),
    ("batch_size", True, "batch_size to be an integer"),
    ("device", 3, "device as a string"),
])
def test_bad_values_are_refused(field, value, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**{field: value})


def test_unknown_fields_are_refused():
    with pytest.raises(ValueError, match="unknown field.*momentum"):
        TrainConfig.from_dict({"momentum": 0.9})


def test_the_data_fills_the_model_configuration():
    data = toy_data()
    spec = get_model_spec("pose-lstm")
    cfg = make_model_config(spec, {"lstm_units": 8}, data)
    assert (cfg.n_classes, cfg.n_joints, cfg.persons, cfg.tp, cfg.layout) == \
        (3, 20, 1, 8, "kinect_v1_20")
    assert cfg.lstm_units == 8
    with pytest.raises(ValueError, match="n_classes=99 contradicts the data"):
        make_model_config(spec, {"n_classes": 99}, data)
    with pytest.raises(ValueError, match="expected the model configuration as a dict"):
        make_model_config(spec, [("lstm_units", 8)], data)


def test_split_run_dirs_nest_only_several_splits(tmp_path):
    data = toy_data()
    loso = data.splits("loso")
    assert split_run_dirs(tmp_path, loso[:1]) == {loso[0].name: tmp_path}
    assert split_run_dirs(tmp_path, loso) == {s.name: tmp_path / s.name for s in loso}


# -- a run ---------------------------------------------------------------------------

def test_a_run_writes_loadable_checkpoints_and_one_line_per_epoch(tmp_path):
    torch.manual_seed(0)
    data = toy_data()
    lines = []
    result = train("toy-pose", None, fast(epochs=8), data, first_split(data), tmp_path,
                   log=lines.append)
    assert len(lines) == 8 and all(f"epoch {e}/8" in l for e, l in zip(range(1, 9), lines))
    assert all(" ce " in l and " val " in l and l.rstrip(" *").endswith(" s") for l in lines)
    ckpt = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    best = torch.load(tmp_path / BEST_NAME, weights_only=True)
    assert ckpt["epoch"] == 8 and ckpt["model"] == "toy-pose"
    assert ckpt["data_fingerprint"] == data.fingerprint() and ckpt["split"] == "subject_1"
    assert ckpt["train_config"] == fast(epochs=8).to_dict()
    assert set(ckpt) >= {"optimizer_state", "scheduler_state", "rng_states", "history",
                         "model_config", "best_val", "best_epoch"}
    assert set(ckpt["rng_states"]) == {"cpu"}                       # CUDA adds "cuda"
    assert isinstance(ckpt["rng_states"]["cpu"][0], torch.Tensor)
    vals = [h["val_top1"] for h in ckpt["history"]]
    # early stopping keeps the first epoch of the best validation accuracy
    assert result.best_epoch == best["epoch"] == int(np.argmax(vals)) + 1
    assert result.best_val == pytest.approx(max(vals)) and 0 <= max(vals) <= 100
    assert [h["lr"] for h in ckpt["history"]] == [0.01] * 8
    model = ToyPose(ModelConfig.from_dict(best["model_config"]))
    model.load_state_dict(best["model_state"])
    # the toy is easy: the kept weights separate the classes on the training videos
    assert result.best_val == 100.0


def test_the_learning_rate_decays_every_lr_step_epochs(tmp_path):
    data = toy_data()
    train("toy-pose", None, fast(epochs=5, lr_step=2, lr_gamma=0.5), data, first_split(data),
          tmp_path, **QUIET)
    history = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["history"]
    assert [h["lr"] for h in history] == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025])


def test_without_validation_the_last_epoch_is_kept(tmp_path):
    data = toy_data()
    result = train("toy-pose", None, fast(epochs=3, val_fraction=0.0), data, first_split(data),
                   tmp_path, **QUIET)
    assert result.best_epoch == 3 and math.isnan(result.best_val)


def test_the_same_seed_gives_the_same_weights_and_another_seed_others(tmp_path):
    data = toy_data()
    split = first_split(data)
    states = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train("toy-pose", None, fast(seed=seed), data, split, tmp_path / name, **QUIET)
        states.append(torch.load(tmp_path / name / CHECKPOINT_NAME,
                                 weights_only=True)["model_state"])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])


def test_no_test_video_reaches_fit_or_validation(tmp_path, monkeypatch):
    data = toy_data()
    split = data.splits("loso")[1]
    requested, loaded = [], []
    real_samples = DeepData.samples
    real_getitem = DeepSamples.__getitem__

    def spy_samples(self, video_idx, inputs, sample="clip"):
        requested.extend(np.asarray(video_idx).tolist())
        return real_samples(self, video_idx, inputs, sample)

    def spy_getitem(self, i):
        item = real_getitem(self, i)
        loaded.append(item[2])
        return item

    monkeypatch.setattr(DeepData, "samples", spy_samples)
    monkeypatch.setattr(DeepSamples, "__getitem__", spy_getitem)
    train("toy-pose", None, fast(epochs=2), data, split, tmp_path, **QUIET)
    test = set(split.test.tolist())
    assert requested and loaded
    assert not (set(requested) | set(loaded)) & test
    assert set(loaded) == set(split.train.tolist())


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")   # D = 0: no features
def test_inputs_the_data_lacks_are_named(tmp_path):
    data = toy_data()
    with pytest.raises(ValueError, match="model i3d reads gap, which the nucla data does not "
                                         "have \\(it has: poses\\)"):
        train("i3d", None, fast(), data, first_split(data), tmp_path, **QUIET)


def test_a_batch_smaller_than_the_processes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    data = toy_data()
    with pytest.raises(ValueError, match="batch_size 2 is smaller than the 4 processes"):
        train("toy-pose", None, fast(batch_size=2), data, first_split(data), tmp_path, **QUIET)


def test_a_train_config_is_required(tmp_path):
    data = toy_data()
    with pytest.raises(ValueError, match="expected a TrainConfig, got dict"):
        train("toy-pose", None, {"epochs": 1}, data, first_split(data), tmp_path, **QUIET)


# -- resume and refusals ---------------------------------------------------------------

def test_a_finished_run_resumes_to_nothing_and_more_epochs_continue(tmp_path):
    data = toy_data()
    split = first_split(data)
    train("toy-pose", None, fast(epochs=2), data, split, tmp_path, **QUIET)
    lines = []
    again = train("toy-pose", None, fast(epochs=2), data, split, tmp_path, log=lines.append)
    assert again.epochs_run == 0 and again.start_epoch == 2 and "resuming after epoch 2" in lines[0]
    more = train("toy-pose", None, fast(epochs=4), data, split, tmp_path, **QUIET)
    assert (more.start_epoch, more.epochs_run, len(more.history)) == (2, 2, 4)
    # continuing to 4 epochs ends where an uninterrupted 4-epoch run ends
    train("toy-pose", None, fast(epochs=4), data, split, tmp_path / "straight", **QUIET)
    a = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["model_state"]
    b = torch.load(tmp_path / "straight" / CHECKPOINT_NAME, weights_only=True)["model_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("change, match", [
    ("lr", "train_config.lr: 0.01 in the file, 0.001 here"),
    ("model", "model: 'toy-pose' in the file, 'pose-lstm' here"),
    ("split", "split: 'subject_1' in the file, 'subject_2' here"),
    ("data", "data_fingerprint: '[0-9a-f]+' in the file, '[0-9a-f]+' here"),
])
def test_a_checkpoint_of_another_run_is_refused(tmp_path, change, match):
    data = toy_data()
    splits = data.splits("loso")
    train("toy-pose", None, fast(epochs=1), data, splits[0], tmp_path, **QUIET)
    args = dict(spec_name="toy-pose", model_config=None, train_config=fast(epochs=1),
                data=data, split=splits[0])
    if change == "lr":
        args["train_config"] = fast(epochs=1, lr=0.001)
    elif change == "model":
        args.update(spec_name="pose-lstm", model_config={"lstm_units": 4})
    elif change == "split":
        args["split"] = splits[1]
    else:
        args["data"] = toy_data(prefix="w")
    path = str(tmp_path / CHECKPOINT_NAME)
    with pytest.raises(ValueError, match=f"{path} belongs to another run .*{match}"):
        train(out_dir=tmp_path, **args, **QUIET)


def test_unreadable_checkpoints_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt: not a readable adl checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: expected an adl checkpoint .* keys "
                                         "\\['weights'\\]"):
        load_checkpoint(tmp_path / "other.pt")


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from adl.deep.inputs import DeepData
    from adl.deep.train import TrainConfig, train
    root, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = DeepData.from_skeletons("nucla", root, tp=5)
    split = data.splits("v3_12")[0]

    def log(line):
        print(line, flush=True)
        if kill_at and f"epoch {kill_at}/" in line:
            os.kill(os.getpid(), signal.SIGKILL)      # no cleanup, as a crash

    train("pose-lstm", {"lstm_units": 8}, TrainConfig(epochs=4, batch_size=8, device="cpu",
          lr=0.01, seed=3), data, split, out, log=log)
""")


@pytest.fixture(scope="module")
def nucla_root(tmp_path_factory):
    from adl.data.synth import generate
    root = tmp_path_factory.mktemp("train_nucla") / "nucla"
    generate("nucla", root, subjects=3, frames=12, image_size=(64, 48), videos_per_class=1)
    return root


def test_killed_after_k_epochs_and_resumed_gives_the_uninterrupted_weights(nucla_root,
                                                                             tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def run(out, kill_at):
        return subprocess.run([sys.executable, str(script), str(nucla_root), str(out),
                               str(kill_at)], capture_output=True, text=True, env=env,
                              timeout=300)

    killed = run(tmp_path / "resumed", 2)
    assert killed.returncode == -9, killed.stderr
    assert torch.load(tmp_path / "resumed" / CHECKPOINT_NAME, weights_only=True)["epoch"] == 2
    resumed = run(tmp_path / "resumed", 0)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 2 of 4" in resumed.stdout
    assert "epoch 3/4" in resumed.stdout and "epoch 1/4" not in resumed.stdout
    # the uninterrupted reference runs here (one torch thread, as the child)
    data = DeepData.from_skeletons("nucla", nucla_root, tp=5)
    train("pose-lstm", {"lstm_units": 8}, TrainConfig(epochs=4, batch_size=8, device="cpu",
          lr=0.01, seed=3), data, data.splits("v3_12")[0], tmp_path / "straight", **QUIET)
    for name in (CHECKPOINT_NAME, BEST_NAME):
        a = torch.load(tmp_path / "resumed" / name, weights_only=True)
        b = torch.load(tmp_path / "straight" / name, weights_only=True)
        assert a["epoch"] == b["epoch"]
        assert all(torch.equal(a["model_state"][k], b["model_state"][k])
                   for k in b["model_state"])
        assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]


# -- pose backbone pre-training (Algorithms 1-2) ---------------------------------------

def test_a_pose_checkpoint_initialises_the_pose_backbone(tmp_path, monkeypatch):
    data = toy_data()
    split = first_split(data)
    train("pose-lstm", {"lstm_units": 4}, fast(epochs=1), data, split, tmp_path / "pose",
          **QUIET)
    seen = {}
    real = ToyPose.load_pose_backbone

    def record(self, state_dict):
        real(self, state_dict)
        seen.update(self.loaded)

    monkeypatch.setattr(ToyPose, "load_pose_backbone", record)
    pose_best = tmp_path / "pose" / BEST_NAME
    train("toy-pose", None, fast(epochs=1, pose_checkpoint=str(pose_best)), data, split,
          tmp_path / "toy", **QUIET)
    expected = torch.load(pose_best, weights_only=True)["model_state"]
    assert set(seen) == set(expected)
    assert all(torch.equal(seen[k], expected[k]) for k in expected)


def test_a_pose_checkpoint_of_another_kind_or_a_model_without_backbone_is_refused(tmp_path):
    data = toy_data()
    split = first_split(data)
    train("toy-pose", None, fast(epochs=1), data, split, tmp_path / "toy", **QUIET)
    with pytest.raises(ValueError, match="expected a pose-lstm or pose-gcn checkpoint .* "
                                         "found one of 'toy-pose'"):
        train("toy-pose", None, fast(epochs=1, pose_checkpoint=str(tmp_path / "toy" /
                                                                   BEST_NAME)),
              data, split, tmp_path / "x", **QUIET)
    train("pose-lstm", {"lstm_units": 4}, fast(epochs=1), data, split, tmp_path / "pose",
          **QUIET)
    with pytest.raises(ValueError, match="PoseClassifier has no pose backbone to load"):
        train("pose-lstm", {"lstm_units": 4},
              fast(epochs=1, pose_checkpoint=str(tmp_path / "pose" / BEST_NAME)),
              data, split, tmp_path / "y", **QUIET)


# -- DeepClassifier (deep/estimator.py) ---------------------------------------------------

def _gap_problem():
    rng = np.random.default_rng(1)
    y = np.repeat(np.array(["drink", "eat", "read"]), 6)
    codes = np.unique(y, return_inverse=True)[1]
    return {"gap": (rng.normal(size=(18, 8)) + 3 * np.eye(3, 8)[codes]).astype(np.float32)}, y


def test_the_classifier_learns_and_reads_its_config_from_the_arrays():
    from adl.deep.estimator import DeepClassifier
    X, y = _gap_problem()
    est = DeepClassifier(model="i3d", epochs=15, lr=0.05, batch_size=6).fit(X, y)
    assert est.model_.config.feature_dim == 8 and est.model_.config.n_classes == 3
    assert est.classes_.tolist() == ["drink", "eat", "read"] and est.inputs_ == ("gap",)
    assert est.score(X, y) == 1.0
    assert est.predict_proba(X).shape == (18, 3) and len(est.history_) == 15
    poses = np.random.default_rng(0).normal(size=(6, 5, 1, 20, 3)).astype(np.float32)
    pose_est = DeepClassifier(model="pose-lstm", model_params={"lstm_units": 4}, epochs=1,
                              batch_size=3).fit({"poses": poses}, np.arange(6) % 2)
    c = pose_est.model_.config
    assert (c.tp, c.persons, c.n_joints, c.lstm_units) == (5, 1, 20, 4)


def test_the_classifier_refuses_bad_arrays():
    from adl.deep.estimator import DeepClassifier
    X, y = _gap_problem()
    est = DeepClassifier(model="i3d", epochs=1)
    with pytest.raises(ValueError, match="expected X as a non-empty dict of arrays"):
        est.fit(X["gap"], y)
    with pytest.raises(ValueError, match="same number of samples \\(17, as y\\)"):
        est.fit(X, y[:17])
    with pytest.raises(ValueError, match="expected y of shape \\(N,\\)"):
        est.fit(X, y[:, None])
    with pytest.raises(ValueError, match="expected X\\['poses'\\] of shape \\(N, tp, M, J, 3\\)"):
        DeepClassifier(model="pose-lstm").fit({"poses": np.zeros((18, 5, 20, 3))}, y)
    with pytest.raises(ValueError, match="model pose-lstm reads X\\['poses'\\], which X lacks "
                                         "\\(it has gap\\)"):
        DeepClassifier(model="pose-lstm", model_params={"tp": 4}).fit(X, y)
