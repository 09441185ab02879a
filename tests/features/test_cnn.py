"""CNN frame descriptors: weights resolution, precision, the crop pipeline."""
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from adl.data.errors import AdlError, DataFormatError  # noqa: E402
from adl.data.video import FrameSource  # noqa: E402
from adl.features import cnn  # noqa: E402
from adl.features.body_parts import N_PARTS, crop_pixels  # noqa: E402
from adl.features.cnn import (BACKBONES, FrameDescriptorExtractor, WeightsError,  # noqa: E402
                          WeightsNotFoundError, build_backbone, describe_weights,
                          resolve_precision)

SIZE = 32  # tiny crops keep the tests fast


@pytest.fixture(scope="module")
def resnet18():
    return build_backbone("resnet18", "random", seed=0)


@pytest.fixture(scope="module")
def fixed_crops():
    return np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def cosine(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_backbone_gives_pooled_features(resnet18):
    out = resnet18(torch.zeros(2, 3, SIZE, SIZE))
    assert tuple(out.shape) == (2, 512)
    assert isinstance(resnet18.fc, torch.nn.Identity) and not resnet18.training
    assert BACKBONES["resnet152"].feature_dim == 2048 and BACKBONES["resnet18"].feature_dim == 512


def test_random_weights_are_seeded(resnet18):
    again = build_backbone("resnet18", "random", seed=0)
    other = build_backbone("resnet18", "random", seed=1)
    w = resnet18.conv1.weight
    assert torch.equal(w, again.conv1.weight) and not torch.equal(w, other.conv1.weight)


def test_bfloat16_matches_float32(resnet18, fixed_crops):
    fp32 = FrameDescriptorExtractor("resnet18", model=resnet18, precision="float32", input_size=64)
    bf16 = FrameDescriptorExtractor("resnet18", model=resnet18, precision="bfloat16", input_size=64)
    a, b = fp32.forward_crops(fixed_crops), bf16.forward_crops(fixed_crops)
    assert a.shape == (4, 512) and b.dtype == np.float32
    assert cosine(a, b).min() >= 0.999


def test_checkpoint_names_are_torchvisions():
    from torchvision.models import get_model_weights
    for name, spec in BACKBONES.items():
        assert Path(get_model_weights(name).IMAGENET1K_V1.url).name == spec.checkpoint


def test_missing_imagenet_weights_name_the_file_and_the_alternatives(hub):
    with pytest.raises(WeightsNotFoundError) as info:
        build_backbone("resnet152", "imagenet")
    msg = str(info.value)
    assert "\n" not in msg
    assert "resnet152-394f9c45.pth" in msg and str(hub) in msg
    assert "--weights PATH" in msg and "--weights random" in msg
    assert isinstance(info.value, AdlError) and not hub.exists()  # nothing downloaded


def test_imagenet_weights_are_read_from_the_hub_cache(hub, resnet18):
    hub.mkdir(parents=True)
    source = build_backbone("resnet18", "random", seed=3)
    torch.save(source.state_dict(), hub / "resnet18-f37072fd.pth")
    model = build_backbone("resnet18", "imagenet")
    assert torch.equal(model.layer4[1].conv2.weight, source.layer4[1].conv2.weight)


def test_weights_file_with_wrapper_and_prefix_is_accepted(tmp_path):
    source = build_backbone("resnet18", "random", seed=5)
    state = {"module." + k: v for k, v in source.state_dict().items()}
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": state}, path)
    model = build_backbone("resnet18", str(path))
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert describe_weights("resnet18", str(path)).startswith("file:")


def test_corrupt_weights_file_is_a_clear_error(tmp_path):
    path = tmp_path / "corrupt.pth"
    path.write_bytes(os.urandom(256))
    with pytest.raises(WeightsError, match=r"corrupt.pth: expected a PyTorch state dict of resnet18.*"
                                           r"unreadable or foreign file"):
        build_backbone("resnet18", str(path))


def test_foreign_state_dict_is_a_clear_error(tmp_path):
    path = tmp_path / "foreign.pth"
    torch.save({"encoder.weight": torch.zeros(3)}, path)
    with pytest.raises(WeightsError, match=r"not a resnet18 state dict: \d+ parameters missing"):
        build_backbone("resnet18", str(path))


def test_other_architecture_is_a_clear_error(tmp_path):
    state = build_backbone("resnet18", "random").state_dict()
    state["conv1.weight"] = torch.zeros(32, 3, 7, 7)
    path = tmp_path / "narrow.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"conv1.weight has shape \(32, 3, 7, 7\), resnet18 expects"):
        build_backbone("resnet18", str(path))


def test_non_state_dict_object_is_a_clear_error(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(WeightsError, match="expected a state dict .* found list"):
        build_backbone("resnet18", str(path))


def test_missing_weights_path_and_bad_names():
    with pytest.raises(WeightsNotFoundError, match="weights file .*nope.pth not found"):
        build_backbone("resnet18", "/nonexistent/nope.pth")
    with pytest.raises(ValueError, match="unknown backbone 'vgg16'"):
        build_backbone("vgg16", "random")
    with pytest.raises(TypeError, match="expected weights as"):
        build_backbone("resnet18", 3)
    assert describe_weights("resnet152", "imagenet") == "imagenet:resnet152-394f9c45.pth"
    assert describe_weights("resnet18", "random") == "random"
    with pytest.raises(WeightsNotFoundError, match="weights file .*gone.pth not found"):
        describe_weights("resnet18", "/nonexistent/gone.pth")


def test_precision_resolution():
    assert resolve_precision("auto") == ("bfloat16" if cnn.cpu_supports_bf16() else "float32")
    assert resolve_precision("float32") == "float32"
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        resolve_precision("fp8")


# -- the pipeline -----------------------------------------------------------------
@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(1)
    for i in range(7):
        cv2.imwrite(str(folder / f"RGB_{i + 1}.png"), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    return folder


def boxes_for(n):
    b = np.array([[0, 0, 20, 20], [40, 10, 64, 40], [10, 5, 50, 45], [5, 0, 60, 48], [0, 0, 64, 48]],
                 np.float32)
    return np.repeat(b[None], n, axis=0) + np.arange(n, dtype=np.float32)[:, None, None] * [1, 0, 1, 0]


def reference(extractor, source, boxes, indices):
    """Crops made one by one, outside the pipeline."""
    frames = dict(source.frames())
    crops = []
    for row, i in zip(boxes, indices):
        for box in row:
            x0, y0, x1, y1 = crop_pixels(box, frames[i].shape)
            shrink = x1 - x0 > SIZE and y1 - y0 > SIZE  # area averaging when shrinking
            crop = cv2.resize(frames[i][y0:y1, x0:x1], (SIZE, SIZE),
                              interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            crops.append(crop[..., ::-1])
    return extractor.forward_crops(np.ascontiguousarray(np.stack(crops))).reshape(len(indices), N_PARTS, -1)


def test_extractor_matches_crops_made_by_hand(resnet18, frame_folder):
    ex = FrameDescriptorExtractor("resnet18", model=resnet18, input_size=SIZE, batch_size=3,
                                  precision="float32", num_threads=1)
    source = FrameSource(frame_folder)
    boxes = boxes_for(7)
    out = ex.extract(source, boxes)
    assert out.features.shape == (7, N_PARTS, 512) and out.features.dtype == np.float32
    np.testing.assert_array_equal(out.frame_indices, np.arange(7))
    np.testing.assert_allclose(out.features, reference(ex, source, boxes, range(7)), rtol=1e-4, atol=1e-4)


def test_extractor_stride_and_frame_ids(resnet18, frame_folder):
    ex = FrameDescriptorExtractor("resnet18", model=resnet18, input_size=SIZE, batch_size=4,
                                  precision="float32", frame_stride=2, num_threads=1)
    source = FrameSource(frame_folder)
    boxes = boxes_for(6)
    out = ex.extract(source, boxes, frame_ids=np.arange(3, 9))  # rows 4..5 lie past the video
    np.testing.assert_array_equal(out.frame_indices, [3, 5])
    np.testing.assert_allclose(out.features, reference(ex, source, boxes[[0, 2]], [3, 5]),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(DataFormatError, match="none of them in the video"):
        ex.extract(source, boxes[:2], frame_ids=[50, 51])


def test_extractor_reads_video_files(resnet18, tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    ex = FrameDescriptorExtractor("resnet18", model=resnet18, input_size=SIZE, num_threads=1)
    out = ex.extract(FrameSource(path), boxes_for(5))
    assert out.features.shape == (5, N_PARTS, 512)
    assert not np.allclose(out.features[0], out.features[4])


def test_decoding_errors_surface_from_the_producer_thread(resnet18, tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"RGB_{i + 1}.png"), np.zeros((48, 64, 3), np.uint8))
    (tmp_path / "RGB_2.png").write_bytes(b"not a png")
    ex = FrameDescriptorExtractor("resnet18", model=resnet18, input_size=SIZE, num_threads=1)
    with pytest.raises(DataFormatError, match="RGB_2.png, frame 2: expected a readable image"):
        ex.extract(FrameSource(tmp_path), boxes_for(3))


def test_extractor_rejects_bad_arguments(resnet18, frame_folder):
    with pytest.raises(ValueError, match="expected input_size to be an integer >= 32"):
        FrameDescriptorExtractor("resnet18", model=resnet18, input_size=16)
    with pytest.raises(ValueError, match="expected frame_stride to be an integer >= 1"):
        FrameDescriptorExtractor("resnet18", model=resnet18, frame_stride=0)
    with pytest.raises(ValueError, match="expected num_threads >= 1"):
        FrameDescriptorExtractor("resnet18", model=resnet18, num_threads=0)
    ex = FrameDescriptorExtractor("resnet18", model=resnet18, input_size=SIZE)
    with pytest.raises(ValueError, match=r"expected boxes of shape \(T, 5, 4\)"):
        ex.extract(FrameSource(frame_folder), np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="no frame to process"):
        ex.extract(FrameSource(frame_folder), boxes_for(2), frame_ids=[-2, -1])
    with pytest.raises(ValueError, match="one frame id per box row"):
        ex.extract(FrameSource(frame_folder), boxes_for(3), frame_ids=[0, 1])
    with pytest.raises(ValueError, match=r"uint8 RGB crops of shape \(N, S, S, 3\)"):
        ex.forward_crops(np.zeros((2, SIZE, SIZE, 3), np.float32))


def test_f1_video_entry_projects_rescales_and_aligns(resnet18, frame_folder):
    """The one F1 per-video path (F1VideoComputer on the skeleton entry): the
    skeleton's frames, its joints projected by the camera and rescaled to the
    decoded frames, the boxes of part_boxes."""
    from adl.data.geometry import get_camera
    from adl.data.layouts import CAD_15
    from adl.data.record import SkeletonSequence, VideoRecord
    from adl.features.body_parts import joints_2d, part_boxes
    from adl.features.config import FeaturesConfig
    from adl.features.f1 import F1Config, pool_video
    from adl.features.video_stages import F1VideoComputer, compute_skeleton_entry

    rng = np.random.default_rng(2)
    xyz = (rng.normal(0, 0.3, (4, 15, 3)) + [0, 0, 2.5]).astype(np.float32)
    skel = SkeletonSequence(xyz, np.array([1, 2, 3, 4]))
    record = VideoRecord("cad60", "v", "a", "1", rgb=frame_folder, rgb_glob="*.png", camera="cad60",
                         layout="cad_15", skeleton_loader=lambda r: skel)
    ex = FrameDescriptorExtractor("resnet18", model=resnet18, input_size=SIZE, precision="float32",
                                  num_threads=1)
    cfg = F1Config(backbone="resnet18", weights="random", input_size=SIZE, precision="float32")
    entry, _ = compute_skeleton_entry(record, FeaturesConfig(f1=cfg))
    arrays, meta = F1VideoComputer(cfg, rgb_only=False, extractor=ex)(record, entry)
    np.testing.assert_array_equal(arrays["frame_indices"], [1, 2, 3, 4])
    # the cad60 camera maps to 320x240 pixels; the frames are 64x48
    assert get_camera("cad60").image_size == (320, 240)
    boxes = part_boxes(joints_2d(skel, "cad60") / 5.0, CAD_15, (64, 48))
    want = ex.extract(FrameSource(frame_folder), boxes, [1, 2, 3, 4]).features
    np.testing.assert_allclose(arrays["pooled"], pool_video(want, delta=cfg.pool_delta),
                               rtol=1e-5, atol=1e-5)
    assert arrays["frames"].shape == want.shape and meta["source"]


def test_f1_video_computer_builds_its_extractor_from_the_config():
    from adl.features.f1 import F1Config
    from adl.features.video_stages import F1VideoComputer

    cfg = F1Config(backbone="resnet18", weights="random", input_size=48, batch_size=8,
                   frame_stride=2, precision="float32", channels_last=False)
    ex = F1VideoComputer(cfg, rgb_only=True, num_threads=1).extractor
    assert (ex.input_size, ex.batch_size, ex.frame_stride, ex.precision, ex.channels_last,
            ex.num_threads) == (48, 8, 2, "float32", False, 1)


def test_a_failing_forward_stops_the_producer(resnet18, frame_folder, monkeypatch):
    import threading
    ex = FrameDescriptorExtractor("resnet18", model=resnet18, input_size=SIZE, batch_size=2,
                                  prefetch=1, num_threads=1)
    calls = []

    def boom(crops):
        calls.append(len(crops))
        raise RuntimeError("forward failed")

    monkeypatch.setattr(ex, "forward_crops", boom)
    with pytest.raises(RuntimeError, match="forward failed"):
        ex.extract(FrameSource(frame_folder), boxes_for(7))
    assert calls == [2]
    assert not [t for t in threading.enumerate() if t.name == "adl-f1-crops"]
