"""The public read API of a features cache, and caches written before the
``adl`` namespace."""
from __future__ import annotations

import sys
import types

import joblib
import numpy as np
import pytest

from adl.data.errors import AdlError
from adl.features.cache_reader import (config_from_index, fold_model_path, load_fold_transformer,
                                       read_index)
from adl.features.config import FeaturesConfig, FisherConfig
from adl.features.f1 import BodyPartSelector, F1Config
from adl.features.f2_config import F2Config
from adl.features.f3 import F3Config, SkeletonLSTM
from adl.features.fisher import FisherVectorEncoder
from adl.features.legacy_names import load_joblib


def test_configs_round_trip_through_from_dict():
    cfg = FeaturesConfig(f1=F1Config(weights="random", input_size=64), f2=F2Config(max_width=320),
                         f3=F3Config(hidden=8, seed=3), fisher=FisherConfig(n_components=4),
                         seed=3, train_subjects=("1", "3"))
    assert FeaturesConfig.from_dict(cfg.to_dict()) == cfg
    for sub in (cfg.f1, cfg.f2, cfg.f3, cfg.fisher):
        assert type(sub).from_dict(sub.to_dict() if hasattr(sub, "to_dict")
                                   else sub.__dict__) == sub
    with pytest.raises(ValueError, match=r"unknown FeaturesConfig fields \['bogus'\]"):
        FeaturesConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match=r"unknown FisherConfig fields \['k'\]"):
        FisherConfig.from_dict({"k": 3})


def test_encoder_defaults_are_the_configs():
    params = FisherVectorEncoder().get_params()
    fc = FisherConfig()
    assert (params["n_components"], params["pca_fraction"], params["n_samples"],
            params["max_iter"]) == (fc.n_components, fc.pca_fraction, fc.n_samples, fc.max_iter)


def test_f3_config_seed_is_the_lstms_random_state():
    est = F3Config(seed=7, mirror=False, inputs="joints").estimator()
    assert isinstance(est, SkeletonLSTM) and est.random_state == 7


def test_the_cache_reads_back(tiny_cache):
    index = read_index(tiny_cache, "cad120")
    cfg = config_from_index(index)
    assert cfg.fisher.n_components == 4 and cfg.f3.hidden == 16
    models = {fam: load_fold_transformer(tiny_cache, "cad120", fam, "subject_1")
              for fam in ("f1", "f2", "f3")}
    assert isinstance(models["f1"], BodyPartSelector)
    assert isinstance(models["f2"], FisherVectorEncoder)
    assert isinstance(models["f3"], SkeletonLSTM)
    with pytest.raises(AdlError, match=r"no f1 transformer for fold subject_9 .*re-run adl "
                                       r"features"):
        load_fold_transformer(tiny_cache, "cad120", "f1", "subject_9")
    assert fold_model_path(tiny_cache, "cad120", "f1", "subject_1").is_file()


def _pickle_under_old_names(path, cls_name, old_module, state):
    """A joblib file whose pickle names ``old_module.cls_name``, as the code
    before the adl namespace wrote it (a stand-in class under the old name)."""
    parts = old_module.split(".")
    fake = {}
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        fake[name] = types.ModuleType(name)
    cls = type(cls_name, (), {"__module__": old_module})
    setattr(fake[old_module], cls_name, cls)
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    saved = {n: sys.modules.get(n) for n in fake}
    sys.modules.update(fake)
    try:
        joblib.dump(obj, path)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
    assert old_module.encode() in path.read_bytes()


def test_fold_transformers_pickled_under_the_old_module_names_load(tmp_path):
    sel = tmp_path / "f1.model.joblib"
    _pickle_under_old_names(sel, "BodyPartSelector", "features.f1",
                            {"select": "best", "C": 1.0, "max_iter": 5000, "random_state": 0,
                             "scale_": np.ones(5), "n_features_in_": 4,
                             "selected_parts_": (4,), "part_scores_": np.zeros(5),
                             "selected_part_": "full_image"})
    model = load_joblib(sel)
    assert type(model) is BodyPartSelector
    np.testing.assert_array_equal(model.transform(np.ones((2, 5, 4), np.float32)),
                                  np.ones((2, 4), np.float32))
    enc = tmp_path / "f2.model.joblib"
    _pickle_under_old_names(enc, "FisherVectorEncoder", "features.fisher",
                            {"n_components": 4, "pca_fraction": 0.5, "n_samples": 100,
                             "seed": 5, "max_iter": 30, "descriptor_types": None, "n_jobs": 1})
    model = load_joblib(enc)
    assert type(model) is FisherVectorEncoder
    assert model.get_params()["random_state"] == 5 and not hasattr(model, "seed")
    # the old names were only there while loading
    assert not {"features", "features.f1", "features.fisher"} & set(sys.modules)


def test_an_old_name_without_an_adl_module_is_refused(tmp_path):
    path = tmp_path / "x.joblib"
    _pickle_under_old_names(path, "Thing", "features.no_such_module", {})
    with pytest.raises(ModuleNotFoundError, match="features.no_such_module"):
        load_joblib(path)
    assert "features" not in sys.modules


def test_reading_a_cache_without_features_or_with_a_broken_index(tmp_path, tiny_cache_copy):
    from adl.data.errors import StoreError
    from adl.features.cache_reader import load_fold_features
    with pytest.raises(AdlError, match=r"no features for cad60 in this cache; run `adl features "
                                       r"--dataset cad60"):
        read_index(tmp_path, "cad60")
    index = read_index(tiny_cache_copy, "cad120")
    key = index["stages"]["f2_fold"]
    entry = next((tiny_cache_copy / "cad120" / "f2_fold" / key["digest"]).glob("subject_3*.npz"))
    entry.unlink()
    with pytest.raises(AdlError, match="fold subject_3 of f2 is missing; re-run adl features"):
        load_fold_features(tiny_cache_copy, "cad120")
    (tiny_cache_copy / "cad120" / "index.json").write_text("{not json")
    with pytest.raises(StoreError, match="unreadable features index"):
        read_index(tiny_cache_copy, "cad120")


def test_the_index_records_where_the_features_were_computed(tiny_cache):
    from adl.features.cache_reader import load_fold_features
    from adl.features.environment import environment_record

    index = read_index(tiny_cache, "cad120")
    assert index["environment"] == environment_record()
    folds = load_fold_features(tiny_cache, "cad120")
    assert all(f.environment == index["environment"] for f in folds)
    assert all(f.split_groups is None for f in folds)       # the tiny dataset declares none


def test_an_index_from_before_0_2_reads_its_groups_and_no_environment(tiny_cache_copy):
    import json

    from adl.features.cache_reader import INDEX_NAME, load_fold_features

    path = tiny_cache_copy / "cad120" / INDEX_NAME
    index = json.loads(path.read_text())
    del index["environment"], index["split_groups"]
    index["groups"] = [f"g{i // 3}" for i in range(len(index["video_ids"]))]
    path.write_text(json.dumps(index))
    folds = load_fold_features(tiny_cache_copy, "cad120")
    assert folds[0].environment is None
    assert list(folds[0].split_groups) == index["groups"]
