"""Protocol runner and reports: JSON shape, determinism, partial modalities,
no leakage of test videos into any fit, t-SNE figure."""
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from sklearn.svm import SVC

from adl.fusion.config import FusionConfig
from adl.fusion.report import ACCURACY_KEYS, THESIS_ACCURACY
from adl.fusion.runner import fuse_fold, run_fusion, synthetic_folds

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _folds(dataset="cad120", dims=None, seed=0):
    return synthetic_folds(dataset=dataset, n_classes=4, n_subjects=3, videos_per_class=3,
                           dims=dims or {"f1": 24, "f2": 32, "f3": 12}, noise=1.5, seed=seed)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuse")
    report = run_fusion(_folds(), out, FusionConfig(alpha_search=True, seed=0))
    return out, report


def _without_seconds(path):
    data = json.loads(path.read_text())
    data.pop("seconds")
    return data


# -- report shape ---------------------------------------------------------------

def _check_accuracy_block(block):
    assert set(block) == set(ACCURACY_KEYS)
    for v in block.values():
        assert v is None or (isinstance(v, float) and 0.0 <= v <= 100.0)


def test_report_json_has_exactly_the_contract_shape(base_run):
    out, report = base_run
    data = json.loads((out / "report.json").read_text())
    assert data == json.loads(json.dumps(report))
    assert set(data) == {"dataset", "protocol", "folds", "mean", "std", "seconds",
                         "config", "alpha_mode", "environment", "pooled"}
    assert data["config"] == FusionConfig(alpha_search=True, seed=0).to_dict()
    assert FusionConfig.from_dict(data["config"]) == FusionConfig(alpha_search=True, seed=0)
    assert data["alpha_mode"] == "search"
    env = data["environment"]["fusion"]
    assert {"python", "platform", "libraries", "f2_descriptor_backend", "cpu_flags"} <= set(env)
    assert env["libraries"]["numpy"] == np.__version__
    assert data["environment"]["features"] is None        # synthetic folds: no features stage
    assert data["dataset"] == "cad120" and data["protocol"] == "leave-one-subject-out"
    assert isinstance(data["seconds"], float) and data["seconds"] > 0
    assert len(data["folds"]) == 3
    for fold in data["folds"]:
        assert set(fold) == {"fold", "test_subjects", "n_test", "alpha", "accuracy", "pairs"}
        assert isinstance(fold["fold"], str)
        assert isinstance(fold["test_subjects"], list) and all(isinstance(s, str)
                                                               for s in fold["test_subjects"])
        assert isinstance(fold["n_test"], int) and fold["n_test"] == 12
        assert isinstance(fold["alpha"], float) and 0.0 <= fold["alpha"] <= 1.0
        _check_accuracy_block(fold["accuracy"])
        assert all(v is not None for v in fold["accuracy"].values())
        for pair in fold["pairs"]:
            assert set(pair) == {"classes", "score", "features"}
            assert len(pair["classes"]) == 2 and all(isinstance(c, str) for c in pair["classes"])
            assert isinstance(pair["score"], float) and pair["score"] >= 0.4
            assert pair["features"] in {"f1", "f2", "f3", "f1+f2", "f1+f3", "f2+f3", "f1+f2+f3"}
    _check_accuracy_block(data["mean"])
    _check_accuracy_block(data["std"])
    for k in ACCURACY_KEYS:
        values = [f["accuracy"][k] for f in data["folds"]]
        assert data["mean"][k] == pytest.approx(np.mean(values), abs=1e-3)
        assert data["std"][k] == pytest.approx(np.std(values), abs=1e-3)


def test_report_markdown_and_pngs(base_run):
    out, report = base_run
    md = (out / "report.md").read_text()
    assert "| ours (mean ± std) |" in md and "| thesis (Tables 3.2, 3.4) |" in md
    thesis = THESIS_ACCURACY["cad120"]
    assert f"{thesis['two_level']:.2f}" in md and f"{thesis['two_level_pairs']:.2f}" in md
    assert "Thesis Table 3.3" in md and "Mode: two-level fusion" in md
    assert "Not comparable with the thesis" not in md     # LOSO, all three families
    for fold in report["folds"]:
        assert f"| {fold['fold']} |" in md
    for name in ("confusion_before_pairs.png", "confusion_after_pairs.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    details = json.loads((out / "details.json").read_text())
    assert details["settings"]["refit"] == "train"
    assert [f["epsilon"] for f in details["folds"]] == [0.4, 0.4, 0.4]


def test_same_seed_same_report(base_run, tmp_path):
    out, _ = base_run
    run_fusion(_folds(), tmp_path, FusionConfig(alpha_search=True, seed=0))
    assert _without_seconds(tmp_path / "report.json") == _without_seconds(out / "report.json")
    assert (tmp_path / "details.json").read_bytes() == (out / "details.json").read_bytes()
    a = json.dumps(_without_seconds(tmp_path / "report.json"), sort_keys=True, indent=2)
    b = json.dumps(_without_seconds(out / "report.json"), sort_keys=True, indent=2)
    assert a == b


# -- partial modalities ------------------------------------------------------------

def test_skeleton_only_uses_clf2_alone(tmp_path):
    report = run_fusion(_folds(dims={"f1": 0, "f2": 0, "f3": 12}), tmp_path)
    assert report["alpha_mode"] == "none"
    for fold in report["folds"]:
        acc = fold["accuracy"]
        assert fold["alpha"] is None
        assert acc["f1"] is acc["f2"] is acc["early_f1f2"] is acc["early_all"] is None
        assert acc["f3"] is not None and acc["two_level"] is not None
    assert report["mean"]["f1"] is None and report["std"]["early_all"] is None
    md = (tmp_path / "report.md").read_text()
    assert "skeleton only - no RGB (F1/F2) features: clf2 on F3 decides alone" in md
    assert "'proposed' equals the F3 column by construction" in md
    assert "Not comparable with the thesis's row as it stands: without F1, F2" in md
    details = json.loads((tmp_path / "details.json").read_text())
    assert {f["mode"] for f in details["folds"]} == {"skeleton_only"}


def test_rgb_only_uses_clf1_alone(tmp_path):
    report = run_fusion(_folds(), tmp_path, FusionConfig(families=("f1", "f2")))
    for fold in report["folds"]:
        acc = fold["accuracy"]
        assert fold["alpha"] is None
        assert acc["f3"] is None and acc["early_all"] is None
        assert acc["early_f1f2"] is not None and acc["two_level_pairs"] is not None
        assert all(p["features"] in {"f1", "f2", "f1+f2"} for p in fold["pairs"])
    md = (tmp_path / "report.md").read_text()
    assert "RGB only - no skeleton (F3) features: clf1 on [F1, F2] decides alone" in md
    assert "without F3 (the thesis fuses F1, F2 and F3)" in md
    assert "Missing or excluded feature families: F3" in md


# -- leakage ---------------------------------------------------------------------------

def test_no_test_video_reaches_any_fit(tmp_path, monkeypatch):
    """Test rows carry a sentinel: all-zero features in every family, hence a
    zero self-similarity; every training row has self-similarity 1.  Any Gram
    matrix handed to an SVM fit must therefore have a diagonal of ones."""
    folds = []
    for fold in _folds():
        feats = {f: X.copy() for f, X in fold.features.items()}
        for X in feats.values():
            X[fold.test_idx] = 0.0
        folds.append(replace(fold, features=feats))
    seen = []
    original = SVC.fit

    def spy_fit(self, X, y, *args, **kwargs):
        diag = np.diag(np.asarray(X))
        assert np.all(diag > 0.99), "a test video reached an SVM fit"
        seen.append(len(y))
        return original(self, X, y, *args, **kwargs)

    monkeypatch.setattr(SVC, "fit", spy_fit)
    report = run_fusion(folds, tmp_path, FusionConfig(alpha_search=True, epsilon="auto"))
    n_train = len(folds[0].fit_idx) + len(folds[0].val_idx)
    assert len(seen) > 100 and max(seen) == n_train
    assert len(report["folds"]) == 3


def test_sentinel_spy_would_catch_a_leak(monkeypatch):
    fold = _folds()[0]
    feats = {f: X.copy() for f, X in fold.features.items()}
    for X in feats.values():
        X[fold.test_idx] = 0.0
    from adl.fusion.feature_bank import FeatureBank
    K = FeatureBank(feats).kernel(("f1", "f2", "f3"))
    leaked = np.union1d(fold.fit_idx, fold.test_idx[:1])
    assert np.diag(K[np.ix_(leaked, leaked)]).min() == 0.0


# -- input checks ----------------------------------------------------------------------

def test_run_fusion_input_errors(tmp_path):
    folds = _folds()
    with pytest.raises(ValueError, match="at least one fold"):
        run_fusion([], tmp_path)
    with pytest.raises(TypeError, match="expected FoldFeatures"):
        run_fusion([{"fold": 1}], tmp_path)
    bad = replace(folds[0], test_idx=np.concatenate([folds[0].test_idx, folds[0].fit_idx[:1]]))
    with pytest.raises(ValueError, match="also training rows"):
        run_fusion([bad], tmp_path)
    with pytest.raises(TypeError, match="expected a FusionConfig, got dict"):
        run_fusion(folds, tmp_path, {"alpha_search": True})
    with pytest.raises(TypeError, match="expected a FusionConfig, got dict"):
        fuse_fold(folds[0], {"alpha_search": True})
    with pytest.raises(ValueError, match="one dataset"):
        run_fusion([folds[0], replace(folds[1], dataset="cad60")], tmp_path)
    no_val = replace(folds[0], val_idx=np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="empty validation split"):
        run_fusion([no_val], tmp_path)
    no_feat = replace(folds[0], features={"f1": None, "f2": None, "f3": None})
    with pytest.raises(ValueError, match="none of the families"):
        run_fusion([no_feat], tmp_path)


# -- t-SNE (Fig. 3.8) --------------------------------------------------------------------

def test_plot_tsne_writes_one_panel_per_space(tmp_path):
    from adl.fusion.plots import plot_tsne

    rng = np.random.default_rng(0)
    labels = np.array(["drink"] * 8 + ["sitdown"] * 8 + ["other"] * 4)
    f1 = rng.standard_normal((20, 6)) + (labels == "drink")[:, None] * 3
    f2 = rng.standard_normal((20, 5))
    spaces = {"F1": f1, "F1+F2": np.hstack([f1, f2])}
    out = plot_tsne(spaces, labels, ("drink", "sitdown"), tmp_path / "fig/tsne.png", seed=0)
    assert out.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="two different classes"):
        plot_tsne(spaces, labels, ("drink", "drink"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="'jump' has no video"):
        plot_tsne(spaces, labels, ("drink", "jump"), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"expected shape \(20, d\)"):
        plot_tsne({"F1": f1[:5]}, labels, ("drink", "sitdown"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least one feature space"):
        plot_tsne({}, labels, ("drink", "sitdown"), tmp_path / "x.png")


def test_importing_fusion_is_light():
    code = ("import sys, adl.fusion; from adl.fusion import ACCURACY_KEYS, FusionConfig; "
            "heavy = [m for m in ('torch', 'torchvision', 'sklearn', 'matplotlib') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_single_classifier_mode_predicts_like_its_family_svm(tmp_path):
    """RGB-only data: the 'two-level' column is clf1 alone, i.e. the same SVM
    as the F1+F2 ablation (not the argmax of its calibrated probabilities)."""
    folds = synthetic_folds(dataset="cad120", n_classes=5, n_subjects=3, videos_per_class=3,
                            dims={"f1": 16, "f2": 24, "f3": 0}, noise=2.5, seed=3)
    report = run_fusion(folds, tmp_path, FusionConfig(epsilon=2.0))  # no pair can reach 2.0
    for f in report["folds"]:
        assert f["accuracy"]["two_level"] == f["accuracy"]["early_f1f2"]
        assert f["accuracy"]["two_level_pairs"] == f["accuracy"]["two_level"]


def test_confusion_titles_name_the_method_run():
    from adl.fusion.report import _method_name
    assert _method_name({"folds": [{"mode": "two_level"}] * 3}) == "two-level fusion"
    assert _method_name({"folds": [{"mode": "skeleton_only"}]}) == "clf2 alone (skeleton only)"
    assert _method_name({"folds": [{"mode": "rgb_only"}, {"mode": "two_level"}]}) == \
        "clf1 alone (RGB only) / two-level fusion"


def test_the_report_line_names_both_environments():
    from adl.features.environment import environment_record
    from adl.fusion.report import environment_line

    here = environment_record()
    other = dict(here, libraries={**here["libraries"], "numpy": "0.0.1"})
    assert environment_line({"features": here, "fusion": here}).startswith(
        "environment (same seed, same numbers only with the same): features and fusion: Python")
    mixed = environment_line({"features": other, "fusion": here})
    assert "features: Python" in mixed and "numpy 0.0.1" in mixed and "; fusion: Python" in mixed
    assert "features: not recorded (cache before adl 0.2)" in environment_line(
        {"features": None, "fusion": here})
