"""F1's engines, devices and batch sizes (issue #18): the shared device helper,
jit / compile engines against eager, identical crops forwarded once, the
F1 cache key, F3's LSTM device.  CUDA cases skip without a GPU."""
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from adl.data.video import FrameSource  # noqa: E402
from adl.features import device as fdev  # noqa: E402
from adl.features.body_parts import N_PARTS  # noqa: E402
from adl.features.cnn import ENGINES, FrameDescriptorExtractor, prepare_engine  # noqa: E402
from adl.features.f1_config import F1Config  # noqa: E402
from adl.features.f3 import SkeletonLSTM  # noqa: E402

SIZE = 32
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


def tiny_net(seed=0, dim=8):
    """A small conv net returning (N, dim), standing in for a ResNet."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.Conv2d(8, dim, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()


@pytest.fixture(scope="module")
def crops():
    return np.random.default_rng(0).integers(0, 256, (7, SIZE, SIZE, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(1)
    for i in range(8):
        cv2.imwrite(str(folder / f"RGB_{i + 1}.png"), rng.integers(0, 256, (48, 64, 3), np.uint8))
    return folder


def extractor(**kw):
    opts = dict(model=tiny_net(), input_size=SIZE, batch_size=4, precision="float32",
                num_threads=1, device="cpu")
    opts.update(kw)
    return FrameDescriptorExtractor("resnet18", "random", **opts)


# -- the shared device helper ------------------------------------------------------
def test_device_helper_resolves_and_refuses(monkeypatch):
    assert fdev.resolve_device("cpu").type == "cpu"
    assert fdev.resolve_device(torch.device("cpu")).type == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        fdev.resolve_device("tpu")
    with pytest.raises(TypeError, match="expected device as a string"):
        fdev.resolve_device(3)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert fdev.resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        fdev.resolve_device("cuda:0")


def test_device_helper_precisions_and_batches():
    assert fdev.native_precisions("cpu", cpu_bf16=False) == ("float32",)
    assert fdev.native_precisions("cpu", cpu_bf16=True) == ("float32", "bfloat16")
    assert fdev.resolve_precision("auto", "cpu", native=("float32",)) == "float32"
    assert fdev.resolve_precision("auto", "cpu", native=("float32", "bfloat16")) == "bfloat16"
    with pytest.raises(ValueError, match="not native on device 'cpu'"):
        fdev.resolve_precision("bfloat16", "cpu", native=("float32",))
    with pytest.raises(ValueError, match="unknown precision 'float16'"):
        fdev.resolve_precision("float16", "cpu", allowed=("auto", "float32"))
    with pytest.raises(ValueError, match="expected a resolved precision"):
        fdev.autocast("cpu", "auto")
    assert fdev.resolve_batch_size("auto", "cpu") == fdev.AUTO_BATCH["cpu"] == 16
    assert fdev.resolve_batch_size(np.int64(5), "cpu") == 5
    for bad in (0, True, 2.5, "many"):
        with pytest.raises(ValueError, match="expected batch_size to be an integer >= 1 or 'auto'"):
            fdev.resolve_batch_size(bad, "cpu")


def test_deep_reexports_the_shared_helper():
    from adl.deep import device as ddev
    assert ddev.resolve_device is fdev.resolve_device and ddev.autocast is fdev.autocast
    assert ddev.resolve_precision("float32", "cpu") == "float32"


# -- engines --------------------------------------------------------------------------
def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="unknown engine 'onnx'"):
        prepare_engine(tiny_net(), "onnx", torch.zeros(1, 3, SIZE, SIZE))
    with pytest.raises(ValueError, match="unknown engine 'onnx'"):
        extractor(engine="onnx")
    with pytest.raises(ValueError, match="unknown engine 'onnx'"):
        F1Config(engine="onnx")
    assert ENGINES[0] == "eager" and F1Config().engine == "eager"


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_jit_engine_matches_eager_and_pads_short_batches(crops):
    torch.manual_seed(0)
    eager = extractor().forward_crops(crops)
    jit = extractor(engine="jit")
    assert jit.compile_seconds > 0
    out = jit.forward_crops(crops)            # 7 crops: one batch of 4, one of 3 padded to 4
    assert out.shape == (7, 8)
    np.testing.assert_allclose(out, eager, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(jit.forward_crops(crops[:2]), eager[:2], rtol=1e-4, atol=1e-5)
    assert jit.forward_crops(crops[:0]).shape == (0, jit.feature_dim)


def test_compile_engine_compiles_frozen_once_on_the_batch_shape(crops, monkeypatch):
    """The wiring of engine="compile" (inductor itself takes minutes on a loaded
    2-core machine: tests/benchmarks/bench_limits.py compiles ResNet-152 for real
    and compares it with eager)."""
    import torch._inductor.config as inductor_config
    calls, shapes = [], []

    def fake_compile(model, **kw):
        calls.append(kw)

        def run(x):
            shapes.append((tuple(x.shape), inductor_config.freezing, torch.is_inference_mode_enabled()))
            return model(x)
        return run
    monkeypatch.setattr(torch, "compile", fake_compile)
    eager = extractor().forward_crops(crops)
    compiled = extractor(engine="compile")
    assert calls == [{"backend": "inductor", "dynamic": False}]
    # compiled here on the batch shape, with frozen weights, in inference mode
    assert shapes[0] == ((4, 3, SIZE, SIZE), True, True) and compiled.compile_seconds > 0
    np.testing.assert_allclose(compiled.forward_crops(crops), eager, rtol=1e-5, atol=1e-6)
    assert {s[0] for s in shapes} == {(4, 3, SIZE, SIZE)}   # every batch padded to one shape


# -- identical crops of a frame -----------------------------------------------------
def test_identical_boxes_are_forwarded_once(frame_folder, monkeypatch):
    ex = extractor(batch_size=3)
    seen = []
    forward = ex.forward_crops
    monkeypatch.setattr(ex, "forward_crops", lambda c: (seen.append(len(c)), forward(c))[1])
    full = np.tile(np.array([0, 0, 64, 48], np.float32), (8, N_PARTS, 1))
    out = ex.extract(FrameSource(frame_folder), full)
    assert sum(seen) == 8                                   # one crop per frame, not five
    assert out.features.shape == (8, N_PARTS, 8)
    np.testing.assert_array_equal(out.features, np.repeat(out.features[:, :1], N_PARTS, 1))
    np.testing.assert_array_equal(out.frame_indices, np.arange(8))
    # the same descriptors as the crops forwarded one by one
    mixed = full.copy()
    mixed[:, 1:] += [1, 0, 1, 0]                            # parts 1..4 differ from part 0
    monkeypatch.setattr(ex, "forward_crops", forward)
    ref = ex.extract(FrameSource(frame_folder), mixed).features
    np.testing.assert_allclose(out.features[:, 0], ref[:, 0], rtol=1e-5, atol=1e-6)


def test_last_frame_is_kept_when_its_crops_fill_a_batch(frame_folder):
    boxes = np.array([[0, 0, 20, 20], [40, 10, 64, 40], [10, 5, 50, 45], [5, 0, 60, 48],
                      [0, 0, 64, 48]], np.float32)
    out = extractor(batch_size=5).extract(FrameSource(frame_folder), np.repeat(boxes[None], 4, 0))
    assert out.features.shape[0] == 4                       # 20 crops = 4 full batches
    np.testing.assert_array_equal(out.frame_indices, np.arange(4))


# -- the F1 configuration and its key ---------------------------------------------------
def test_engine_enters_the_key_only_when_not_eager():
    base = F1Config().frame_key()
    assert "engine" not in base and "device" not in base
    assert F1Config(engine="jit").frame_key() == {**base, "engine": "jit"}
    assert F1Config(device="cuda:1").frame_key() == base   # the resolved precision keys it
    with pytest.raises(ValueError, match="expected device as 'auto'"):
        F1Config(device="")
    cfg = F1Config(engine="compile", device="cpu", batch_size=8)
    assert F1Config.from_dict(cfg.to_dict()) == cfg


def test_extractor_batch_auto_and_config_device(monkeypatch):
    ex = FrameDescriptorExtractor.from_config(F1Config(backbone="resnet18", weights="random",
                                                       input_size=SIZE, precision="float32",
                                                       device="cpu"))
    assert ex.device.type == "cpu" and ex.batch_size == 16 and ex.engine == "eager"
    assert extractor(batch_size="auto").batch_size == fdev.AUTO_BATCH["cpu"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        extractor(device="cuda")


# -- F3 on a device -------------------------------------------------------------------------
def toy_sequences(n=24, seed=0):
    rng = np.random.default_rng(seed)
    X, y = [], []
    for i in range(n):
        c = i % 2
        a = rng.uniform(0, 6.3) + (0.5 if c else -0.5) * np.arange(10)
        X.append(np.stack([np.cos(a), np.sin(a), np.zeros(10)], 1).astype(np.float32))
        y.append(c)
    return X, np.array(y)


F3_SMALL = dict(hidden=8, layers=2, dropout=0.0, batch_size=8, max_epochs=2, num_threads=1)


def test_f3_device_cpu_is_the_default_path():
    X, y = toy_sequences()
    a = SkeletonLSTM(**F3_SMALL).fit(X, y).transform(X)
    b = SkeletonLSTM(**F3_SMALL, device="cpu").fit(X, y).transform(X)
    np.testing.assert_array_equal(a, b)
    old = SkeletonLSTM(**F3_SMALL).fit(X, y)
    state = old.__getstate__()
    state.pop("device")                                     # a model pickled before the option
    restored = SkeletonLSTM.__new__(SkeletonLSTM)
    restored.__setstate__(state)
    assert restored.device == "cpu"
    np.testing.assert_allclose(restored.transform(X), old.transform(X), rtol=1e-6)


def test_f3_unavailable_device_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, y = toy_sequences()
    with pytest.raises(ValueError, match="CUDA is not available"):
        SkeletonLSTM(**F3_SMALL, device="cuda:0").fit(X, y)


@CUDA
def test_f3_trains_on_cuda_and_pickles_to_cpu():
    X, y = toy_sequences()
    model = SkeletonLSTM(**F3_SMALL, device="cuda").fit(X, y)
    assert next(model.model_.parameters()).device.type == "cuda"
    feats = model.transform(X)
    back = pickle.loads(pickle.dumps(model))
    assert next(back.model_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(back.transform(X), feats, rtol=1e-3, atol=1e-4)


@CUDA
def test_f1_on_cuda_matches_cpu(crops):
    cpu = extractor().forward_crops(crops)
    gpu = extractor(device="cuda", batch_size="auto")
    assert gpu.batch_size == fdev.AUTO_BATCH["cuda"] and gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.forward_crops(crops), cpu, rtol=1e-2, atol=1e-3)


# -- adl features options --------------------------------------------------------------------
def test_cli_resolves_f1_device_precision_and_batch(monkeypatch, tmp_path):
    from click.testing import CliRunner
    from adl.cli import main as cli
    seen = {}

    def fake_run(dataset, root, cache, cfg, **kw):
        seen["cfg"] = cfg
        raise SystemExit(0)
    monkeypatch.setattr("adl.features.pipeline.run_features", fake_run)
    runner = CliRunner()
    args = ["features", "--dataset", "manifest", "--root", str(tmp_path), "--cache",
            str(tmp_path / "c"), "--only", "f1", "--device", "cpu", "--f1-engine", "jit",
            "--f1-precision", "float32"]
    result = runner.invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    f1 = seen["cfg"].f1
    assert (f1.device, f1.engine, f1.precision, f1.batch_size) == ("cpu", "jit", "float32", 16)
    assert f1 == F1Config(engine="jit", precision="float32")    # the CPU defaults otherwise
    result = runner.invoke(cli.main, args + ["--f1-batch-size", "lots"])
    assert result.exit_code == 2 and "expected --f1-batch-size as a positive integer or 'auto'" \
        in result.output
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = runner.invoke(cli.main, args[:-6] + ["--device", "cuda:1"])
    assert result.exit_code == 2 and "CUDA is not available" in result.output


def test_i3d_channels_last_3d_matches_the_contiguous_format():
    from adl.deep.backbones import VideoBackbone
    clips = np.random.default_rng(0).integers(0, 256, (1, 8, 32, 32, 3), dtype=np.uint8)
    bb = VideoBackbone("i3d", "random", device="cpu", precision="float32", batch_size=1)
    assert bb.channels_last_3d
    conv = next(m for m in bb.model.modules() if isinstance(m, torch.nn.Conv3d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    a = bb.forward_clips(clips)
    bb.model, bb.channels_last_3d = bb.model.to(memory_format=torch.contiguous_format), False
    b = bb.forward_clips(clips)
    assert a.shape == (1, 1024, 1, 1, 1)
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * float(np.abs(b).max()))
