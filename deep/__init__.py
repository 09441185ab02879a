"""The deep stage (thesis ch. 4-5): video backbones, and the attention,
temporal and global models that read their cached features.

Importing the package imports neither torch nor torchvision: the names below
are torch-free until a network is built.

- :mod:`adl.deep.backbones` -- the registry of user-named backbones (``i3d``,
  ``s3d``), :func:`build_backbone` and :class:`VideoBackbone` (batched clips ->
  1024-channel maps on a chosen device and precision);
- :mod:`adl.deep.weights` -- weights entries carrying their preprocessing,
  weights resolution (standard name, path, ``"random"``), strict checkpoint
  loading;
- :mod:`adl.deep.device` -- ``--device`` and autocast precision resolution;
- :mod:`adl.deep.clips` -- clip sampling (64 frames, stride 2; training,
  test-time and per-segment clips) and the fixed per-clip person crop
  (thesis 4.6.1, Eq. 4.3);
- :mod:`adl.deep.video_io` -- a video's frame count, every person's skeleton,
  and its cropped clips in one decoding pass;
- :mod:`adl.deep.extract` -- ``adl deep extract``: :func:`run_extract` and
  :class:`ExtractConfig`, the cached backbone features per video;
- :mod:`adl.deep.i3d`, :mod:`adl.deep.s3d` -- the networks (import torch);
- :mod:`adl.deep.models` -- the trainable models and their registry (pose
  backbones, I3D baseline, P-I3D, Separable STA, VPN, Temporal Model);
- :mod:`adl.deep.inputs`, :mod:`adl.deep.train`, :mod:`adl.deep.evaluate`,
  :mod:`adl.deep.estimator` -- cached features as samples, training
  (checkpoints, resume, DDP), evaluation, an sklearn-style wrapper;
- :mod:`adl.deep.global_model`, :mod:`adl.deep.ablate`,
  :mod:`adl.deep.figures`, :mod:`adl.deep.attention_figures` -- the Global
  Model's fusion, the thesis's ablation tables, attention figures.
"""
from .backbones import (BackboneSpec, VideoBackbone, build_backbone, get_backbone_spec,
                        list_backbones, register_backbone)
from .clips import (PART_STREAMS, eval_clip_indices, part_clip_boxes, person_box,
                    segment_clip_indices, train_clip_indices)
from .device import resolve_device, resolve_precision
from .extract import DEEP_STAGES, DeepStages, ExtractConfig, ExtractSummary, run_extract
from .weights import BackboneWeights, ClipNormalization, WeightsError, WeightsNotFoundError

__all__ = ["BackboneSpec", "VideoBackbone", "build_backbone", "get_backbone_spec",
           "list_backbones", "register_backbone", "resolve_device", "resolve_precision",
           "BackboneWeights", "ClipNormalization", "WeightsError", "WeightsNotFoundError",
           "PART_STREAMS", "eval_clip_indices", "part_clip_boxes", "person_box",
           "segment_clip_indices", "train_clip_indices", "DEEP_STAGES", "DeepStages",
           "ExtractConfig", "ExtractSummary", "run_extract"]
