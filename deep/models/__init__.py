"""The deep stage's trainable models (thesis ch. 4-5), their configurations
and registry: see :mod:`adl.deep.models.base` for the contract.  Importing
this package imports torch."""
from .base import (INPUT_KEYS, DeepModel, ModelConfig, ModelOutput, ModelSpec, build_model,
                   get_model_spec, list_models, register_model)

__all__ = ["INPUT_KEYS", "DeepModel", "ModelConfig", "ModelOutput", "ModelSpec", "build_model",
           "get_model_spec", "list_models", "register_model"]
