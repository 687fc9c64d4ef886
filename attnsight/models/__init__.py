"""Task models: one file per task, each a Config dataclass beside its nn.Module."""

from attnsight.models.base import PretrainedModel, read_bundle_config
from attnsight.models.sasrec import SASRec, SASRecConfig, SASRecOutput
from attnsight.models.text import TextConfig, TextOutput, TextTransformer

__all__ = [
    "PretrainedModel",
    "SASRec",
    "SASRecConfig",
    "SASRecOutput",
    "TextConfig",
    "TextOutput",
    "TextTransformer",
    "read_bundle_config",
]
