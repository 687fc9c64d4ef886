"""Training objectives: each turns (model, batch) into a loss, so one Trainer runs them all."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from attnsight.models.risk import RiskTransformer
from attnsight.models.sasrec import SASRec
from attnsight.models.text import TextTransformer
from attnsight.train.batches import Batch, padded_width
from attnsight.train.sampling import NegativeSampler


@dataclass
class NextItemObjective:
    """Predict every next item with causal attention (all positions, SASRec+).

    negatives = 0: full-softmax cross-entropy over the catalogue. negatives = K: sampled softmax
    against K items shared by the batch, drawn by `sampler` (uniform when None) and corrected by
    their log Q, for catalogues too large to score whole.
    """

    negatives: int = 0
    sampler: NegativeSampler | None = None

    def __call__(self, model: SASRec, batch: Batch) -> Tensor:
        if self.negatives <= 0:
            return model(batch["items"], batch["targets"], users=batch.get("users")).loss
        hidden = model(batch["items"], users=batch.get("users")).hidden
        at = batch["targets"] != 0
        targets = batch["targets"][at]
        sampler = self.sampler or NegativeSampler("uniform", model.config.num_items)
        negatives = sampler.draw(self.negatives, targets)
        return model.sampled_loss(hidden[at], targets, negatives, sampler.log_q(hidden.device))


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


@dataclass
class ClassificationObjective:
    """Cross-entropy of the pooled representation's class logits, with optional class weights
    (for imbalance) and label smoothing."""

    class_weights: Tensor | None = None
    label_smoothing: float = 0.0

    def __call__(self, model: TextTransformer, batch: Batch) -> Tensor:
        logits = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")).logits
        weight = None if self.class_weights is None else self.class_weights.to(logits.device, logits.dtype)
        return F.cross_entropy(logits.float(), batch["labels"], weight=weight, label_smoothing=self.label_smoothing)


@dataclass
class MaskedTokenObjective:
    """BERT's masked-language modelling: 15% of real tokens are chosen; of those 80% become
    [MASK], 10% a random token, 10% stay; the model recovers the originals. When the batch has
    `word_ids`, whole words are chosen (all characters of a Chinese word, all pieces of an
    English one), as Chinese-BERT-wwm does. With `nsp`, the batch's sentence pairs also train
    next-sentence prediction."""

    mask_id: int
    special_ids: tuple[int, ...]
    mask_prob: float = 0.15
    nsp: bool = False

    def maskable(self, batch: Batch) -> Tensor:
        """(B, T) True for real tokens that are not special tokens: the ones masking may choose."""
        candidates = batch["attention_mask"].bool()
        for special in self.special_ids:
            candidates = candidates & (batch["input_ids"] != special)
        return candidates

    def __call__(self, model: TextTransformer, batch: Batch) -> Tensor:
        ids = batch["input_ids"]
        candidates = self.maskable(batch)
        if not candidates.any():  # nothing but special tokens: no loss, and no gradient to apply
            return model.mlm_bias.sum() * 0.0
        if "word_ids" in batch:  # one draw per word, shared by its tokens
            words = batch["word_ids"]
            draw = torch.rand(words.shape[0], int(words.max()) + 1, device=ids.device)
            chosen = (draw.gather(1, words.clamp(min=0)) < self.mask_prob) & (words >= 0) & candidates
        else:
            chosen = (torch.rand(ids.shape, device=ids.device) < self.mask_prob) & candidates
        if not chosen.any():  # a batch of very short texts: still learn from one token
            chosen.view(-1)[candidates.view(-1).nonzero()[0]] = True
        draw = torch.rand(ids.shape, device=ids.device)
        vocab = model.config.vocab_size
        random_tokens = torch.randint(0, vocab, ids.shape, device=ids.device)
        inputs = torch.where(chosen & (draw < 0.8), torch.full_like(ids, self.mask_id), ids)
        inputs = torch.where(chosen & (draw >= 0.8) & (draw < 0.9), random_tokens, inputs)
        out = model(inputs, batch["attention_mask"], batch.get("token_type_ids"))
        # masked rows padded (and ignored) to a few counts, so the (rows × vocab) logits come in a few
        # shapes: as with batch widths, every new shape would fragment the CPU allocator
        count = int(chosen.sum())
        extra = padded_width(count) - count
        hidden = F.pad(out.hidden[chosen], (0, 0, 0, extra))
        targets = F.pad(ids[chosen], (0, extra), value=-100)
        loss = F.cross_entropy(model.mlm_logits(hidden).float(), targets, ignore_index=-100)
        if self.nsp:
            loss = loss + F.cross_entropy(model.nsp_logits(out.hidden).float(), batch["labels"])
        return loss


@dataclass
class RiskObjective:
    """Binary cross-entropy of the current event's risk logit; positives weighted by `pos_weight`
    so that a rare class still drives the gradient."""

    pos_weight: float = 1.0

    def __call__(self, model: RiskTransformer, batch: Batch) -> Tensor:
        logits = model(batch).logits.float()
        weight = torch.tensor(self.pos_weight, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, batch["target"], pos_weight=weight)


@dataclass
class MaskedEventObjective:
    """Masked-feature modelling: hide the fields of a share of the events (current and past) and
    recover them from the rest, which teaches the encoder what usual behaviour looks like."""

    mask_prob: float = 0.15

    def __call__(self, model: RiskTransformer, batch: Batch) -> Tensor:
        valid = batch["valid"]
        masked = (torch.rand(valid.shape, device=valid.device) < self.mask_prob) & valid
        masked[:, 0] |= ~masked.any(dim=1)  # every example recovers at least one event
        hidden = model(batch, feature_mask=masked).hidden
        return model.masked_feature_loss(hidden, batch, masked)
