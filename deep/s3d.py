"""S3D (Xie et al. 2018, separable 3D Inception) from torchvision: the
alternative video backbone of the deep stage.

:class:`S3DFeatures` is torchvision's :class:`~torchvision.models.video.S3D`
whose ``forward`` stops after ``features`` (the last Inception block, 1024
channels): ``(N, 3, 64, 224, 224) -> (N, 1024, 8, 7, 7)``, the map I3D's
``Mixed_5c`` gives, so the rest of the deep stage does not care which backbone
made it.  The state dict is torchvision's unchanged (``features.*``,
``classifier.*``), so torchvision's Kinetics-400 file and any file saved from
``torchvision.models.video.s3d()`` load with ``strict=True``.

Weights: torchvision's ``S3D_Weights.KINETICS400_V1`` is read through its
weights API (``get_state_dict``) only when its file is already in the torch hub
cache (:func:`load_kinetics400`); this module never downloads.  Input: RGB in
[0, 1] normalised with the Kinetics mean/std the weights entry carries.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.models.video import S3D, S3D_Weights

from .weights import (CHECKPOINT_READ_ERRORS, WeightsNotFoundError, load_state_dict_strict,
                      unreadable_checkpoint)

def torchvision_file_name(enum=S3D_Weights.KINETICS400_V1) -> str:
    """The file name torchvision caches the weights ``enum`` under."""
    return Path(enum.url).name


class S3DFeatures(S3D):
    """torchvision's S3D returning the 1024-channel map of ``features``.

    Parameters
    ----------
    num_classes : int
        Classes of the classifier, 400 for the Kinetics weights.

    Notes
    -----
    ``forward(x)`` with ``x`` of shape ``(N, 3, T, H, W)`` returns
    ``(N, 1024, T', H', W')``, 8 x 7 x 7 at 64 x 224 x 224.  The classifier
    is kept (unused) so that torchvision's files load with ``strict=True``.
    """

    endpoint = "features"

    def __init__(self, num_classes: int = 400):
        super().__init__(num_classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"expected RGB clips of shape (N, 3, T, H, W), got {tuple(x.shape)}")
        return self.features(x)


def load_kinetics400(model: S3DFeatures, path: Path, *, layout: str) -> None:
    """Load torchvision's Kinetics-400 S3D weights through its weights API,
    from the hub cache only.

    Parameters
    ----------
    model : S3DFeatures
    path : Path
        Where the file must already be (``torch.hub.get_dir()/checkpoints/``
        + :func:`torchvision_file_name`); checked first so that torchvision's
        loader never starts a download.
    layout : str
        What the file should be, for messages.

    Raises
    ------
    WeightsNotFoundError
        The file is not there.
    WeightsError
        A file there that is unreadable or not torchvision's S3D layout.
    """
    enum = S3D_Weights.KINETICS400_V1
    path = Path(path)
    if path.name != torchvision_file_name(enum) or not path.is_file():
        raise WeightsNotFoundError(f"torchvision's S3D Kinetics-400 weights expected at {path} "
                                   f"(file {torchvision_file_name(enum)}), not found")
    try:
        state = enum.get_state_dict(progress=False, model_dir=str(path.parent),
                                    map_location="cpu", weights_only=True)
    except CHECKPOINT_READ_ERRORS as err:
        raise unreadable_checkpoint(path, layout, err) from None
    load_state_dict_strict(model, state, source=path, layout=layout)
