"""Imports every model module so that each registers its models
(:func:`adl.deep.models.base.register_model`)."""
from . import pose  # noqa: F401  pose-lstm, pose-gcn (thesis 4.5.2, Eq. 4.14)
from . import attention  # noqa: F401  i3d, p-i3d, sep-sta and variants, vpn (ch. 4)
from . import temporal  # noqa: F401  temporal (ch. 5)
