"""`adl inspect`: what a dataset root holds, and what is wrong with it."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .errors import AdlError
from .record import VideoRecord
from .registry import load_records, skipped_samples
from .video import FrameSource


@dataclass
class InspectReport:
    dataset: str
    root: str
    n_videos: int = 0
    per_class: Dict[str, int] = field(default_factory=dict)
    per_subject: Dict[str, int] = field(default_factory=dict)
    with_rgb: int = 0
    with_skeleton: int = 0
    skeleton_frames: List[int] = field(default_factory=list)
    rgb_frames: List[int] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    n_groups: int = 0          # split groups declared (manifest ``group``); 0: none
    skipped: List[str] = field(default_factory=list)   # "sample: reason" the reader left out

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_lines(self) -> List[str]:
        def stats(xs):
            if not xs:
                return "-"
            a = np.asarray(xs)
            return f"total {a.sum()}, min {a.min()}, median {int(np.median(a))}, max {a.max()}"
        lines = [f"dataset {self.dataset} at {self.root}",
                 f"videos: {self.n_videos}  classes: {len(self.per_class)}  "
                 f"subjects: {len(self.per_subject)}",
                 f"modalities: RGB in {self.with_rgb}/{self.n_videos}, "
                 f"skeleton in {self.with_skeleton}/{self.n_videos}",
                 f"skeleton frames: {stats(self.skeleton_frames)}",
                 f"RGB frames: {stats(self.rgb_frames)}",
                 "per class:"]
        w = max((len(c) for c in self.per_class), default=5)
        lines += [f"  {c:<{w}}  {n}" for c, n in sorted(self.per_class.items())]
        lines.append("per subject: " + ", ".join(f"{s}: {n}" for s, n in self.per_subject.items()))
        if self.n_groups:
            lines.append(f"split groups: {self.n_groups} (videos of a group stay on one side of "
                         f"the validation splits)")
        if self.skipped:
            lines.append(f"skipped by the reader: {len(self.skipped)}")
            lines += [f"  - {s}" for s in self.skipped[:20]]
            if len(self.skipped) > 20:
                lines.append(f"  ... and {len(self.skipped) - 20} more")
        if self.problems:
            lines.append(f"problems found: {len(self.problems)}")
            lines += [f"  - {p}" for p in self.problems]
        else:
            lines.append("problems found: none")
        return lines


def inspect_records(records: List[VideoRecord], *, dataset: str, root: str,
                    check_frames: bool = True, progress=None) -> InspectReport:
    """Load every skeleton and count every RGB source; collect the problems."""
    rep = InspectReport(dataset=dataset, root=str(root), n_videos=len(records))
    rep.per_class = dict(sorted(Counter(r.label for r in records).items()))
    from .protocols import subjects_of
    counts = Counter(r.subject for r in records)
    rep.per_subject = {s: counts[s] for s in subjects_of(records)}
    if any(r.group for r in records):
        rep.n_groups = len({r.split_group for r in records})
    it = progress(records) if progress else records
    for r in it:
        if r.has_skeleton:
            rep.with_skeleton += 1
            try:
                seq = r.load_skeleton()
                rep.skeleton_frames.append(len(seq))
            except AdlError as e:
                rep.problems.append(str(e))
        if r.has_rgb:
            rep.with_rgb += 1
            if check_frames:
                try:
                    rep.rgb_frames.append(len(FrameSource(r.rgb, r.rgb_glob)))
                except AdlError as e:
                    rep.problems.append(str(e))
    return rep


def inspect_dataset(name: str, root, *, check_frames: bool = True, progress=None,
                    **reader_options) -> InspectReport:
    records = load_records(name, root, **reader_options)
    rep = inspect_records(records, dataset=name, root=str(root), check_frames=check_frames,
                          progress=progress)
    rep.skipped = [f"{sample}: {reason}"
                   for sample, reason in skipped_samples(name, root, **reader_options)]
    return rep
