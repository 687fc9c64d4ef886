"""Training objectives: each turns (model, batch) into a loss, so one Trainer runs them all."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from attnsight.models.sasrec import SASRec
from attnsight.train.batches import Batch


@dataclass
class NextItemObjective:
    """Predict every next item with causal attention (all positions, SASRec+).

    negatives = 0: full-softmax cross-entropy over the catalogue. negatives = K: sampled softmax
    against K uniformly drawn items shared by the batch, for catalogues too large to score whole.
    """

    negatives: int = 0

    def __call__(self, model: SASRec, batch: Batch) -> Tensor:
        if self.negatives <= 0:
            return model(batch["items"], batch["targets"]).loss
        hidden = model(batch["items"]).hidden
        at = batch["targets"] != 0
        negatives = torch.randint(1, model.config.num_items + 1, (self.negatives,), device=hidden.device)
        return model.sampled_loss(hidden[at], batch["targets"][at], negatives)


@dataclass
class ClozeObjective:
    """Masked-item modelling (BERT4Rec): hide a share of items, recover them with bidirectional attention.

    Each item is replaced by [MASK] with probability mask_prob; a sequence that drew no mask gets
    its last item masked, which is also the pretraining case closest to next-item prediction.
    """

    mask_prob: float = 0.2

    def __call__(self, model: SASRec, batch: Batch) -> Tensor:
        items = batch["items"]
        real = items != 0
        masked = (torch.rand(items.shape, device=items.device) < self.mask_prob) & real
        masked[:, -1] |= ~masked.any(dim=1) & real[:, -1]
        inputs = items.masked_fill(masked, model.config.mask_index)
        targets = items.masked_fill(~masked, 0)
        return model(inputs, targets, causal=False).loss
