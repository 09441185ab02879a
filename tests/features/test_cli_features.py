"""`adl features`: its options default to the configuration dataclasses."""
from __future__ import annotations

from click.testing import CliRunner

from adl.cli.main import main
from adl.features import pipeline
from adl.features.config import FeaturesConfig, FisherConfig
from adl.features.f1 import F1Config
from adl.features.f2 import F2Config
from adl.features.f3 import F3Config


def test_the_features_command_defaults_are_the_dataclasses(tmp_path, monkeypatch):
    seen = {}

    def fake_run(dataset, root, cache, cfg, **kw):
        seen["cfg"] = cfg
        return pipeline.FeaturesSummary(dataset, 0, [], [], {}, {}, 0.0, tmp_path / "index.json")

    monkeypatch.setattr(pipeline, "run_features", fake_run)
    out = CliRunner().invoke(main, ["features", "--dataset", "cad120", "--root", str(tmp_path),
                                    "--cache", str(tmp_path / "c")])
    assert out.exit_code == 0, out.output
    want = FeaturesConfig(f1=F1Config(), f2=F2Config(), f3=F3Config.for_dataset("cad120"),
                          fisher=FisherConfig())
    assert seen["cfg"] == want
    # the seed reaches every seeded part, F3's LSTM included
    CliRunner().invoke(main, ["features", "--dataset", "cad120", "--root", str(tmp_path),
                              "--cache", str(tmp_path / "c"), "--seed", "4"])
    cfg = seen["cfg"]
    assert (cfg.seed, cfg.f1.seed, cfg.f3.seed) == (4, 4, 4)
