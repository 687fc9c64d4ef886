"""Explanations: what a model attended to, turned into evidence people can read."""

from attnsight.explain.attention import attention_rollout

__all__ = ["attention_rollout"]
