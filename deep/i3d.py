"""I3D: Inception-v1 inflated to 3D (Carreira & Zisserman 2017), the video
backbone of the deep stage (thesis 4.2, 4.6.1).

The module reproduces the public PyTorch port of DeepMind's Kinetics-I3D (the
``rgb_imagenet.pt`` checkpoint, ImageNet-inflated and trained on Kinetics-400)
name for name, so that its state dict loads with ``strict=True``:

* every conv unit is ``<name>.conv3d`` (Conv3d, no bias, no built-in padding)
  + ``<name>.bn`` (BatchNorm3d, eps 1e-3, momentum 0.01) + ReLU; only
  ``logits.conv3d`` has a bias and no BN;
* TensorFlow "SAME" padding computed from the input size at run time
  (:func:`same_padding`); max pools pad with zeros as the port does (so their
  borders see zeros, not -inf: kept to match its outputs);
* Inception blocks ``Mixed_*`` with branches ``b0``, ``b1a``/``b1b``,
  ``b2a``/``b2b``, ``b3a`` (3x3x3 max pool, stride 1)/``b3b``, concatenated in
  the order b0, b1b, b2b, b3b;
* the classifier ``logits`` (1x1x1 conv, 1024 -> 400) is registered first, as
  in the port, so ``state_dict()`` lists the 344 entries in the checkpoint's
  order.  The deep stage reads ``Mixed_5c``; the head is carried so that the
  checkpoint loads strictly and :meth:`I3D.classify` can check it.

Input: RGB clips ``(N, 3, T, H, W)`` scaled to [-1, 1] (``x / 255 * 2 - 1``);
``Mixed_5c`` is ``(N, 1024, ceil(T/8), ceil(H/32), ceil(W/32))``, i.e.
1024 x 8 x 7 x 7 for the thesis' 64 x 224 x 224 clips: the feature map
``g = f(crop(V); theta)`` of Eq. 4.1 that Separable STA and VPN modulate
(thesis 4.6.1: tc = 8, m x n = 7 x 7, c = 1024).  P-I3D's "GAP" features
(tc = 7, 1 x 1, 1024) are the head's 2 x 7 x 7 stride-1 average pool of that
map (the first step of :meth:`I3D.classify`).
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

#: The named endpoints of :class:`I3D`, in forward order.
ENDPOINTS: Tuple[str, ...] = (
    "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
    "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
    "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c",
)
#: Channels of each Inception block: ``(c_in, [b0, b1a, b1b, b2a, b2b, b3b])``.
INCEPTION_CHANNELS: Dict[str, Tuple[int, Tuple[int, ...]]] = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}
FEATURE_DIM = 1024
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def same_padding(size: Sequence[int], kernel: Sequence[int],
                 stride: Sequence[int]) -> Tuple[int, ...]:
    """TensorFlow "SAME" padding of a (T, H, W) input, in :func:`F.pad` order.

    For each axis with input size ``d``, kernel ``k`` and stride ``s``:
    ``total = max(k - s, 0)`` if ``d % s == 0`` else ``max(k - d % s, 0)``;
    ``front = total // 2`` and ``back = total - front`` (the extra pixel goes
    to the back, as TensorFlow does).  The output size is then ``ceil(d / s)``.

    Parameters
    ----------
    size, kernel, stride : sequence of 3 ints
        ``(T, H, W)`` input size, kernel and stride.

    Returns
    -------
    tuple of 6 ints
        ``(w_front, w_back, h_front, h_back, t_front, t_back)``.
    """
    pads = []
    for d, k, s in zip(size, kernel, stride):
        total = max(k - s, 0) if d % s == 0 else max(k - d % s, 0)
        pads.append((total // 2, total - total // 2))
    (tf, tb), (hf, hb), (wf, wb) = pads
    return (wf, wb, hf, hb, tf, tb)


def _symmetric(pad: Sequence[int]) -> bool:
    """Whether an :func:`F.pad`-ordered padding is the same before and after on every axis."""
    return pad[0] == pad[1] and pad[2] == pad[3] and pad[4] == pad[5]


def _last_touching(size: int, n_out: int, kernel: int, stride: int, front: int) -> int:
    """Index of the first output whose window reaches past the input's end."""
    for i in range(n_out):
        if i * stride - front + kernel > size:
            return i
    return n_out


def _triple(value) -> Tuple[int, int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value, value)


class Unit3D(nn.Module):
    """Conv3d ("SAME" padded, no bias) + BatchNorm3d(eps 1e-3) + ReLU; the
    classifier variant (``batch_norm=False, activation=False, bias=True``) is
    a plain 1x1x1 conv with bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel=1, stride=1, *,
                 batch_norm: bool = True, activation: bool = True, bias: bool = False):
        super().__init__()
        self.kernel = _triple(kernel)
        self.stride = _triple(stride)
        self.activation = activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride,
                                padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM) \
            if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = same_padding(x.shape[2:], self.kernel, self.stride)
        fused = self.bn is not None and not self.training and not torch.is_grad_enabled()
        if _symmetric(pad):
            # the padding inside the convolution: no padded copy of the input
            padding = (pad[4], pad[2], pad[0])
        else:
            x = F.pad(x, pad)
            padding = (0, 0, 0)
        if fused:
            # inference: batch norm folded into the convolution (one pass over
            # the activations instead of two; the same values up to rounding)
            w, b = self._folded()
            x = F.conv3d(x, w, b, self.stride, padding)
        else:
            x = F.conv3d(x, self.conv3d.weight, self.conv3d.bias, self.stride, padding)
            if self.bn is not None:
                x = self.bn(x)
        if not self.activation:
            return x
        return F.relu_(x) if fused else F.relu(x)

    def _folded(self):
        """``(weight, bias)`` of the convolution with the batch norm folded in
        (eval statistics), recomputed when the parameters change."""
        bn, conv = self.bn, self.conv3d
        stamp = (conv.weight._version, bn.weight._version, bn.bias._version,
                 bn.running_mean._version, bn.running_var._version, conv.weight.data_ptr(),
                 conv.weight.device, conv.weight.dtype)
        cached = getattr(self, "_folded_cache", None)
        if cached is None or cached[0] != stamp:
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            w = conv.weight * scale.view(-1, 1, 1, 1, 1)
            if conv.weight.is_contiguous(memory_format=torch.channels_last_3d):
                w = w.contiguous(memory_format=torch.channels_last_3d)
            b = bn.bias - bn.running_mean * scale
            if conv.bias is not None:
                b = b + conv.bias * scale
            cached = (stamp, w.detach(), b.detach())
            self._folded_cache = cached
        return cached[1], cached[2]


class MaxPool3dSame(nn.Module):
    """Max pool after zero "SAME" padding (the port's ``F.pad`` + ``MaxPool3d``;
    inputs are post-ReLU, so zero borders rarely change the maximum)."""

    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel = _triple(kernel)
        self.stride = _triple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = same_padding(x.shape[2:], self.kernel, self.stride)
        if not any(pad):
            return F.max_pool3d(x, self.kernel, self.stride)
        if not _symmetric(pad) or 2 * max(pad) > min(self.kernel):
            return F.max_pool3d(F.pad(x, pad), self.kernel, self.stride)
        # Without the padded copy: max_pool3d pads with -inf, so an output whose
        # window overlaps the border lacks the zeros the port pads with; those
        # outputs are the first/last few along each padded axis, where
        # max(out, 0) restores them exactly (the same values for any input).
        out = F.max_pool3d(x, self.kernel, self.stride, padding=(pad[4], pad[2], pad[0]))
        for axis, front in zip((2, 3, 4), (pad[4], pad[2], pad[0])):
            if front == 0:
                continue
            n = out.shape[axis]
            edge = min(n, -(-front // self.stride[axis - 2]))   # outputs touching a border
            out.narrow(axis, 0, edge).clamp_(min=0)
            last = _last_touching(x.shape[axis], n, self.kernel[axis - 2],
                                  self.stride[axis - 2], front)
            if last < n:
                out.narrow(axis, last, n - last).clamp_(min=0)
        return out


class InceptionBlock(nn.Module):
    """Inflated Inception-v1 block: 1x1x1 | 1x1x1 -> 3x3x3 | 1x1x1 -> 3x3x3 |
    3x3x3 max pool -> 1x1x1, concatenated on channels.

    Parameters
    ----------
    in_channels : int
    channels : sequence of 6 ints
        ``[b0, b1a, b1b, b2a, b2b, b3b]`` output channels.
    """

    def __init__(self, in_channels: int, channels: Sequence[int]):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = channels
        self.b0 = Unit3D(in_channels, c0, 1)
        self.b1a = Unit3D(in_channels, c1a, 1)
        self.b1b = Unit3D(c1a, c1b, 3)
        self.b2a = Unit3D(in_channels, c2a, 1)
        self.b2b = Unit3D(c2a, c2b, 3)
        self.b3a = MaxPool3dSame(3, 1)
        self.b3b = Unit3D(in_channels, c3, 1)
        self.out_channels = c0 + c1b + c2b + c3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled():
            return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                              self.b3b(self.b3a(x))], dim=1)
        # inference: the three 1x1x1 units that read x (batch norm folded) as
        # one convolution -- one pass over x, one larger matrix product
        w, b = self._stem()
        y = F.relu_(F.conv3d(x, w, b))
        c0, c1 = self.b0.conv3d.out_channels, self.b1a.conv3d.out_channels
        return torch.cat([y[:, :c0], self.b1b(y[:, c0:c0 + c1]), self.b2b(y[:, c0 + c1:]),
                          self.b3b(self.b3a(x))], dim=1)

    def _stem(self):
        units = (self.b0, self.b1a, self.b2a)
        parts = [u._folded() for u in units]
        key = tuple(u._folded_cache[0] for u in units)   # the parameters' version stamps
        cached = getattr(self, "_stem_cache", None)
        if cached is None or cached[0] != key:
            w = torch.cat([p[0] for p in parts], dim=0)
            if parts[0][0].is_contiguous(memory_format=torch.channels_last_3d):
                w = w.contiguous(memory_format=torch.channels_last_3d)
            cached = (key, w, torch.cat([p[1] for p in parts], dim=0))
            self._stem_cache = cached
        return cached[1], cached[2]


class I3D(nn.Module):
    """Inception-v1 I3D up to ``Mixed_5c`` (+ the Kinetics classifier head).

    Parameters
    ----------
    num_classes : int
        Classes of the head ``logits`` (400 for the Kinetics checkpoint).
    final_endpoint : str
        The endpoint :meth:`forward` returns (one of :data:`ENDPOINTS`).
    dropout : float
        Dropout before ``logits`` in :meth:`classify` (training only).

    Notes
    -----
    ``forward(x)`` with ``x`` of shape ``(N, 3, T, H, W)`` in [-1, 1] returns
    the ``final_endpoint`` map, for ``Mixed_5c``
    ``(N, 1024, ceil(T/8), ceil(H/32), ceil(W/32))``.
    """

    def __init__(self, num_classes: int = 400, *, final_endpoint: str = "Mixed_5c",
                 dropout: float = 0.5):
        super().__init__()
        if final_endpoint not in ENDPOINTS:
            raise ValueError(f"unknown I3D endpoint {final_endpoint!r}; expected one of "
                             f"{', '.join(ENDPOINTS)}")
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"expected num_classes to be a positive integer, got {num_classes!r}")
        self.final_endpoint = final_endpoint
        self.num_classes = num_classes
        # Registered first: the checkpoint's state dict starts with it.
        self.logits = Unit3D(FEATURE_DIM, num_classes, 1, batch_norm=False, activation=False,
                             bias=True)
        self.dropout = nn.Dropout(dropout)
        self.Conv3d_1a_7x7 = Unit3D(3, 64, 7, 2)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64, 1)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, 3)
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionBlock(*INCEPTION_CHANNELS["Mixed_3b"])
        self.Mixed_3c = InceptionBlock(*INCEPTION_CHANNELS["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = MaxPool3dSame(3, 2)
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            setattr(self, name, InceptionBlock(*INCEPTION_CHANNELS[name]))
        self.MaxPool3d_5a_2x2 = MaxPool3dSame(2, 2)
        self.Mixed_5b = InceptionBlock(*INCEPTION_CHANNELS["Mixed_5b"])
        self.Mixed_5c = InceptionBlock(*INCEPTION_CHANNELS["Mixed_5c"])

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"expected RGB clips of shape (N, 3, T, H, W), got {tuple(x.shape)}")

    def forward_endpoints(self, x: torch.Tensor,
                          endpoints: Iterable[str] = ("Mixed_5c",)) -> Dict[str, torch.Tensor]:
        """The maps of the named ``endpoints`` (forward stops at the last one).

        Parameters
        ----------
        x : Tensor, shape (N, 3, T, H, W), in [-1, 1]
        endpoints : iterable of str
            Names from :data:`ENDPOINTS`.

        Returns
        -------
        dict
            ``{endpoint: Tensor (N, C, T', H', W')}`` in forward order.
        """
        wanted = list(endpoints)
        unknown = [name for name in wanted if name not in ENDPOINTS]
        if unknown or not wanted:
            raise ValueError(f"expected I3D endpoints among {', '.join(ENDPOINTS)}, "
                             f"got {wanted!r}")
        self._check_input(x)
        last = max(ENDPOINTS.index(name) for name in wanted)
        out = {}
        for name in ENDPOINTS[: last + 1]:
            x = getattr(self, name)(x)
            if name in wanted:
                out[name] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_endpoints(x, (self.final_endpoint,))[self.final_endpoint]

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of the port's head: ``Mixed_5c`` -> 2x7x7 average pool
        (stride 1) -> dropout -> ``logits`` -> mean over time.

        Parameters
        ----------
        x : Tensor, shape (N, 3, T, H, W), in [-1, 1]
            ``T >= 9`` and ``H, W >= 193`` (the pool needs a 2 x 7 x 7 map).

        Returns
        -------
        Tensor, shape (N, num_classes)
        """
        feat = self.forward_endpoints(x, ("Mixed_5c",))["Mixed_5c"]
        if feat.shape[2] < 2 or feat.shape[3] < 7 or feat.shape[4] < 7:
            raise ValueError(f"expected a Mixed_5c map of at least 2x7x7 for the classifier head "
                             f"(clips of >= 9 frames at >= 193x193), got "
                             f"{tuple(feat.shape[2:])} from input {tuple(x.shape[2:])}")
        pooled = F.avg_pool3d(feat, (2, 7, 7), stride=1)
        scores = self.logits(self.dropout(pooled))
        return scores.mean(dim=(2, 3, 4))


def output_size(size: Sequence[int]) -> Tuple[int, int, int]:
    """``(T', H', W')`` of the ``Mixed_5c`` map for a ``(T, H, W)`` input
    (``ceil`` of T/8, H/32, W/32 under "SAME" padding)."""
    t, h, w = size
    return (math.ceil(t / 8), math.ceil(h / 32), math.ceil(w / 32))
