"""The attention core: multi-head attention and transformer encoder blocks (torch only)."""

from attnsight.nn.attention import MultiHeadAttention, attend, attention_with_weights, build_attention_mask
from attnsight.nn.losses import chunked_cross_entropy
from attnsight.nn.encoder import EncoderBlock, EncoderOutput, LearnedPositions, TransformerEncoder

__all__ = [
    "EncoderBlock",
    "EncoderOutput",
    "LearnedPositions",
    "MultiHeadAttention",
    "TransformerEncoder",
    "attend",
    "attention_with_weights",
    "build_attention_mask",
    "chunked_cross_entropy",
]
