"""The datasets adl can read, their expected folder layout, and the entry
point that turns a dataset root into a list of :class:`VideoRecord`."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

from .errors import DatasetLayoutError
from .record import VideoRecord


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    reader: str          # "module:function"
    layout: str          # joint layout name
    protocol: str        # default protocol
    modalities: str
    folder_layout: str   # what `adl datasets` prints
    skipped: str = ""    # "module:function" listing the samples the reader skips, with why


DATASETS = {
    "cad60": DatasetInfo(
        "cad60", "Cornell Activity Dataset CAD-60", "adl.data.cad:read_cad60", "cad_15",
        "leave-one-subject-out (4 persons)", "RGB PNG frames 320x240, 15-joint skeleton (mm)",
        "ROOT/data{1..4}/activityLabel.txt   '<id>,<activity>,' lines, last line END\n"
        "ROOT/data{1..4}/<id>.txt            skeleton: 171 comma-separated values + trailing comma per frame, END line\n"
        "ROOT/data{1..4}/<id>/RGB_<n>.png    RGB frames, n = 1, 2, ... (Depth_<n>.png beside them)"),
    "cad120": DatasetInfo(
        "cad120", "Cornell Activity Dataset CAD-120", "adl.data.cad:read_cad120", "cad_15",
        "leave-one-subject-out (subjects 1,3,4,5)", "RGB PNG frames 640x480, 15-joint skeleton (mm)",
        "ROOT/Subject{N}_annotations/<activity>/activityLabel.txt  '<id>,<activity>,<subject>,<obj>:<type>,...'\n"
        "ROOT/Subject{N}_annotations/<activity>/labeling.txt       sub-activity segments\n"
        "ROOT/Subject{N}_annotations/<activity>/<id>.txt           skeleton (CAD 171-value format, END line)\n"
        "ROOT/Subject{N}_rgbd_images/<activity>/<id>/RGB_<n>.png   RGB frames, n = 1, 2, ..."),
    "msr_daily": DatasetInfo(
        "msr_daily", "MSRDailyActivity3D", "adl.data.msr_daily:read_msr_daily", "kinect_v1_20",
        "leave-one-subject-out (10 subjects)", "RGB AVI 640x480, 20-joint skeleton (m + screen)",
        "ROOT/aXX_sYY_eZZ_skeleton.txt  '<frames> <joints>' header; per frame a row count (40/0/80)\n"
        "                               then per joint 'x y z c' (metres) and 'u v depth c' (screen)\n"
        "ROOT/aXX_sYY_eZZ_rgb.avi       RGB video (XX action 01-16, YY subject 01-10, ZZ 01 sit / 02 stand)"),
    "ntu60": DatasetInfo(
        "ntu60", "NTU RGB+D 60", "adl.data.ntu:read_ntu60", "kinect_v2_25",
        "cross-subject (20 training performers) or cross-view (cameras 2, 3 train; 1 tests)",
        "RGB AVI 1920x1080, 25-joint Kinect v2 skeleton (m + depth/colour pixels), up to 2 bodies",
        "ROOT/**/SsssCcccPpppRrrrAaaa.skeleton  text: frame count; per frame a body count, per body\n"
        "                                       a 10-value header, '25' and 25 joint lines of 12 values\n"
        "ROOT/**/SsssCcccPpppRrrrAaaa_rgb.avi   RGB video (setups S001-S017, actions A001-A060)\n"
        "ROOT/NTU_RGBD_samples_with_missing_skeletons.txt  the official list (3 header lines, one\n"
        "                                       name a line): those samples are skipped and reported",
        "adl.data.ntu:ntu60_skipped"),
    "ntu120": DatasetInfo(
        "ntu120", "NTU RGB+D 120", "adl.data.ntu:read_ntu120", "kinect_v2_25",
        "cross-subject (53 training performers) or cross-setup (even setups train)",
        "RGB AVI 1920x1080, 25-joint Kinect v2 skeleton (m + depth/colour pixels), up to 2 bodies",
        "ROOT/**/SsssCcccPpppRrrrAaaa.skeleton  as ntu60; setups S001-S032, actions A001-A120\n"
        "ROOT/**/SsssCcccPpppRrrrAaaa_rgb.avi   RGB video\n"
        "ROOT/NTU_RGBD120_samples_with_missing_skeletons.txt  the official list: skipped, reported",
        "adl.data.ntu:ntu120_skipped"),
    "smarthome": DatasetInfo(
        "smarthome", "Toyota Smarthome (trimmed)", "adl.data.smarthome:read_smarthome",
        "lcrnet_13", "cross-subject (31 classes), CV1 / CV2 (19 classes, camera 5 validates, "
        "2 tests); metric: mean per-class accuracy (and top-1)",
        "RGB MP4 640x480, 13-joint LCR-Net poses (2D pixels + 3D) per frame",
        "ROOT/**/<Activity>_pPP_rRR_vVV_cCC.mp4          RGB clip (PP subject, CC camera)\n"
        "ROOT/**/<Activity>_pPP_rRR_vVV_cCC_pose3d.json  {\"frames\": [[{\"pose2d\": 26 numbers x0..x12,\n"
        "                                                y0..y12, \"pose3d\": 39 numbers X.., Y.., Z..}], ...]}\n"
        "                                                one person list per frame ([] = none)"),
    "nucla": DatasetInfo(
        "nucla", "Northwestern-UCLA Multiview Action3D (N-UCLA)", "adl.data.nucla:read_nucla",
        "kinect_v1_20", "cross-view V3_12 (views 1, 2 train; view 3 tests)",
        "RGB JPEG frames 640x480, 20-joint Kinect v1 skeleton per frame (m)",
        "ROOT[/multiview_action]/view_{1,2,3}/aAA_sSS_eEE/  one sample (actions a01-a06, a08, a09,\n"
        "                                     a11, a12)\n"
        "  fileList.txt                       '<frame> <rgb tc> <skeleton tc>' per frame (2 numbers:\n"
        "                                     no skeleton)\n"
        "  frame_<f>_tc_<tc>_rgb.jpg          RGB frame\n"
        "  frame_<f>_tc_<tc>_skeletons.txt    one integer, then 20 lines 'x,y,z,c' (metres)"),
    "manifest": DatasetInfo(
        "manifest", "bring-your-own CSV manifest", "adl.data.manifest:read_manifest", "(per row)",
        "leave-one-subject-out", "any: RGB video/frame folder and/or .npy skeleton",
        "ROOT/manifest.csv  columns video_id,label,subject,rgb,skeleton,layout\n"
        "                   [,view,setup,camera,fps,group]\n"
        "                   rgb = video file or frame folder, skeleton = .npy (T, J, 3) metres;\n"
        "                   either may be empty; paths relative to the CSV, inside ROOT;\n"
        "                   group: videos that stay on one side of every split inside a fold\n"
        "                   (a clip and its flipped copy; one subject per group);\n"
        "                   media outside ROOT only with an explicit --media-root (never read\n"
        "                   from the CSV)"),
}


def get_dataset(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}") from None


def load_records(name: str, root, **reader_options) -> List[VideoRecord]:
    """Read the dataset ``name`` at ``root`` into records (sorted by video id).

    ``reader_options`` are passed to the reader (e.g. ``media_root=`` for a
    manifest whose media live outside its folder)."""
    info = get_dataset(name)
    root = Path(root)
    if not root.exists():
        raise DatasetLayoutError(f"{root}: dataset root does not exist (expected the {info.title} "
                                 f"layout; see `adl datasets`)")
    module, func = info.reader.split(":")
    reader = getattr(importlib.import_module(module), func)
    records = reader(root, **reader_options)
    return sorted(records, key=lambda r: r.video_id)


def skipped_samples(name: str, root, **reader_options) -> List[Tuple[str, str]]:
    """The samples the reader of ``name`` leaves out at ``root``, as
    ``(sample, reason)`` (e.g. NTU's missing-skeleton list); empty for a
    dataset whose reader skips nothing."""
    info = get_dataset(name)
    if not info.skipped:
        return []
    module, func = info.skipped.split(":")
    return list(getattr(importlib.import_module(module), func)(Path(root), **reader_options))
