"""How faithful an explanation is, measured by deletion: attention is not automatically explanation.

For each prediction, delete the k inputs (history items, tokens, past events) an explanation
ranks highest and see how much the probability of the predicted outcome drops; a faithful
explanation names the inputs the prediction depends on, so deleting them costs more than
deleting k inputs at random. Compared here: the attention rollout the product shows, integrated
gradients on the input embeddings (Captum, the optional `explain` extra), and random deletion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from attnsight.classifier import TextClassifier
    from attnsight.data.events import Events
    from attnsight.recommender import SequentialRecommender
    from attnsight.scorer import RiskScorer

# (examples, keep masks: one bool per input unit) -> probability of each example's predicted outcome
Predict = Callable[[Sequence[int], Sequence[np.ndarray]], np.ndarray]
# each explanation's weights per example and unit, and the predictor they explain: built once, then
# tested at every k
Explained = tuple[dict[str, list[np.ndarray]], Predict]


def deletion_test(
    weights: Mapping[str, Sequence[np.ndarray]], predict: Predict, k: int = 3, random_draws: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Mean drop of the predicted outcome's probability when each explanation's top-k units are
    deleted, beside deleting k random units (averaged over `random_draws`). Examples with k units
    or fewer are skipped: something must remain."""
    first = next(iter(weights.values()))
    rows = [i for i, w in enumerate(first) if len(w) > k]
    if not rows:
        raise ValueError(f"no example has more than k={k} inputs")
    full = predict(rows, [np.ones(len(first[i]), dtype=bool) for i in rows])

    def drop(keeps: list[np.ndarray]) -> float:
        return float(np.mean(full - predict(rows, keeps)))

    def without(order: np.ndarray, size: int) -> np.ndarray:
        keep = np.ones(size, dtype=bool)
        keep[order[:k]] = False
        return keep

    drops = {method: drop([without(np.argsort(-np.asarray(w[i]), kind="stable"), len(w[i])) for i in rows])
             for method, w in weights.items()}
    rng = np.random.default_rng(seed)
    drops["random"] = float(np.mean([drop([without(rng.permutation(len(first[i])), len(first[i])) for i in rows])
                                     for _ in range(random_draws)]))
    return {"k": k, "examples": len(rows), "mean_probability": float(np.mean(full)), "drop": drops,
            "most_faithful": max((m for m in drops if m != "random"), key=drops.get)}


def _in_batches(rows: Sequence[int], keeps: Sequence[np.ndarray], batch_size: int,
                part: Callable[[list[int], list[np.ndarray]], np.ndarray]) -> np.ndarray:
    """`part(rows, keeps)` over consecutive slices of `batch_size` examples, concatenated."""
    return np.concatenate([part(list(rows[i : i + batch_size]), list(keeps[i : i + batch_size]))
                           for i in range(0, len(rows), batch_size)])


def integrated_gradients(
    forward: Callable[[torch.Tensor], torch.Tensor], embedding: torch.nn.Module, inputs: torch.Tensor, steps: int = 32,
    baseline: int = 0,
) -> torch.Tensor:
    """(B, T) attribution of each input position: Captum's layer integrated gradients on `embedding`'s
    output, from the embedding of the `baseline` id (padding: a zero vector), summed over the
    embedding dimensions."""
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError:
        raise ImportError("gradient attributions need Captum: pip install 'attnsight[explain]'") from None
    attributions = LayerIntegratedGradients(forward, embedding).attribute(
        inputs, baselines=torch.full_like(inputs, baseline), n_steps=steps, internal_batch_size=inputs.shape[0] * steps)
    return attributions.sum(-1).detach()


def recommender_faithfulness(
    rec: SequentialRecommender, users: int = 500, k: int = 3, seed: int = 0, batch_size: int = 16
) -> dict[str, Any]:
    """The deletion test on a sample of known users' next-item predictions (each user's top item,
    seen items excluded): attention rollout vs integrated gradients vs random history items."""
    return deletion_test(*recommender_explanations(rec, users, seed, batch_size), k, seed=seed)


def recommender_explanations(rec: SequentialRecommender, users: int = 500, seed: int = 0,
                             batch_size: int = 16) -> Explained:
    """Rollout and integrated-gradient weights of the history items behind each sampled user's top item."""
    model = rec.model_
    if model.config.mode != "causal":
        raise ValueError("the deletion test reads next-item (causal) models")
    rng = np.random.default_rng(seed)
    sample = rng.permutation(len(rec.sequences_))[:users]
    histories = [rec.sequences_[u][-model.config.max_len:] for u in sample]
    targets, attention, gradient = [], [], []
    for start in range(0, len(histories), batch_size):
        chunk = histories[start : start + batch_size]
        with torch.no_grad():
            hidden, rolled = rec._read(chunk)
            scores = model.score(hidden)
            for row, history in enumerate(chunk):
                scores[row, torch.as_tensor(history)] = float("-inf")
        target = scores.argmax(-1)
        items = rec._batch(chunk)

        def log_prob(batch: torch.Tensor, target: torch.Tensor = target) -> torch.Tensor:
            out = torch.log_softmax(model.score(model(batch).hidden[:, -1]).float(), -1)
            return out.gather(1, target.repeat(len(batch) // len(target))[:, None])[:, 0]

        ig = integrated_gradients(log_prob, model.item_embedding, items)
        for row, history in enumerate(chunk):
            targets.append(int(target[row]))
            attention.append(rolled[row].float().cpu().numpy())
            gradient.append(ig[row, -len(history):].cpu().numpy())

    @torch.no_grad()
    def part(rows: list[int], keeps: list[np.ndarray]) -> np.ndarray:
        hidden = rec._predict([histories[r][keep] for r, keep in zip(rows, keeps)])
        probs = torch.softmax(model.score(hidden).float(), -1)
        return probs[torch.arange(len(rows)), torch.as_tensor([targets[r] for r in rows])].cpu().numpy()

    return ({"attention": attention, "integrated_gradients": gradient},
            lambda rows, keeps: _in_batches(rows, keeps, batch_size, part))


def classifier_faithfulness(
    clf: TextClassifier, texts: Sequence[str], k: int = 3, seed: int = 0, batch_size: int = 16
) -> dict[str, Any]:
    """The deletion test on text classifications (the predicted class of each text): tokens ranked by
    the pooled representation's attention rollout vs integrated gradients vs random tokens; special
    tokens ([CLS], [SEP]) are never deleted."""
    return deletion_test(*classifier_explanations(clf, texts, batch_size), k, seed=seed)


def text_gradients(model: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor, target: torch.Tensor,
                   pad_id: int) -> torch.Tensor:
    """(B, T) integrated gradients of each token for the log-probability of its text's `target` class,
    from the padding embedding (a text classifier's `TextTransformer`)."""
    def log_prob(inputs: torch.Tensor) -> torch.Tensor:
        repeat = len(inputs) // len(target)
        logits = model(inputs, mask.repeat(repeat, 1)).logits
        return torch.log_softmax(logits.float(), -1).gather(1, target.repeat(repeat)[:, None])[:, 0]

    return integrated_gradients(log_prob, model.token_embedding, input_ids, baseline=pad_id)


def classifier_explanations(clf: TextClassifier, texts: Sequence[str], batch_size: int = 16) -> Explained:
    """Rollout and integrated-gradient weights of each text's non-special tokens for its predicted
    class; for a model with a wide head, also each mixed with that head's evidence, as `explain` shows
    them ("attention + wide", "integrated_gradients + wide"). The wide head reads the window the
    encoder reads here, not the whole text, so that deleting a token takes it from both heads."""
    from attnsight.explain.text import mixed_evidence, pooled_attention
    from attnsight.train.batches import TokenBatcher

    model, tokenizer = clf.model_, clf.tokenizer_
    model.eval()
    device = next(model.parameters()).device
    ids = [np.asarray(e.ids) for e in tokenizer.encode(clf._clean(texts))]
    special_ids = np.asarray(tokenizer.special_ids)
    units = [np.flatnonzero(~np.isin(row, special_ids)) for row in ids]  # the deletable positions

    def batch_of(rows: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        out = TokenBatcher(list(rows), len(rows), pad_id=tokenizer.pad_id).batch(np.arange(len(rows)))
        return {key: value.to(device) for key, value in out.items()}

    wide = model.wide is not None and float(model.wide.mix) > 0
    targets: list[int] = []
    methods: dict[str, list[np.ndarray]] = {name: [] for name in ("attention", "integrated_gradients")}
    methods.update({f"{name} + wide": [] for name in methods} if wide else {})
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        batch = batch_of(chunk)
        input_ids, mask = batch["input_ids"], batch["attention_mask"]
        with torch.no_grad():
            result = model(input_ids, mask, output_attentions=True)
            rollout = pooled_attention(result.attentions, mask, model.config.pooling).float()
        target = result.logits.argmax(-1)
        ig = text_gradients(model, input_ids, mask, target, tokenizer.pad_id)
        weights = {"attention": rollout, "integrated_gradients": ig}
        if wide:
            special = torch.isin(input_ids, torch.as_tensor(special_ids, device=device))
            weights["attention + wide"] = mixed_evidence(model, rollout, input_ids, mask, target, special)
            weights["integrated_gradients + wide"] = mixed_evidence(model, ig.clamp(min=0), input_ids, mask,
                                                                    target, special)
        arrays = {name: w.cpu().numpy() for name, w in weights.items()}
        for row in range(len(chunk)):
            at = units[start + row]
            targets.append(int(target[row]))
            for name, w in arrays.items():
                methods[name].append(w[row, at])

    @torch.no_grad()
    def part(rows: list[int], keeps: list[np.ndarray]) -> np.ndarray:
        batch = batch_of([np.delete(ids[r], units[r][~keep]) for r, keep in zip(rows, keeps)])
        probs = torch.softmax(model(batch["input_ids"], batch["attention_mask"]).logits.float(), -1)
        return probs[torch.arange(len(rows)), torch.as_tensor([targets[r] for r in rows])].cpu().numpy()

    return methods, lambda rows, keeps: _in_batches(rows, keeps, batch_size, part)


def scorer_faithfulness(
    scorer: RiskScorer, events: Events, rows: np.ndarray, k: int = 3, seed: int = 0, batch_size: int = 32,
    steps: int = 32,
) -> dict[str, Any]:
    """The deletion test on risk scores of `rows` (choose high-scoring ones: their evidence is what
    an analyst reads): past events ranked by the current event's attention rollout vs integrated
    gradients on the events' feature embeddings (baseline: a zero token) vs random past events."""
    return deletion_test(*scorer_explanations(scorer, events, rows, batch_size, steps), k, seed=seed)


def scorer_explanations(scorer: RiskScorer, events: Events, rows: np.ndarray, batch_size: int = 32,
                        steps: int = 32) -> Explained:
    """Rollout and integrated-gradient weights of the past events behind each chosen event's score."""
    from captum.attr import IntegratedGradients

    from attnsight.explain.attention import attention_rollout

    model = scorer.model_
    model.eval()
    device = next(model.parameters()).device
    batcher = scorer._batcher(events, scorer._arrays(events), np.asarray(rows), batch_size)
    units = [np.flatnonzero(h >= 0) + 1 for h in batcher.history]  # token positions of real past events
    attention, gradient = [], []
    for positions, batch in batcher.in_order():
        batch = {key: value.to(device) for key, value in batch.items()}
        with torch.no_grad():
            result = model(batch, output_attentions=True)
            weights = attention_rollout(result.attentions, position=0).float().cpu().numpy()
            tokens = model.features(batch["numeric"], batch["categorical"])

        def log_score(x: torch.Tensor, batch: dict[str, torch.Tensor] = batch) -> torch.Tensor:
            repeat = len(x) // len(batch["valid"])
            expanded = {key: value.repeat(repeat, *[1] * (value.dim() - 1)) for key, value in batch.items()}
            return torch.nn.functional.logsigmoid(model(expanded, tokens=x).logits.float())

        ig = IntegratedGradients(log_score).attribute(tokens, baselines=torch.zeros_like(tokens), n_steps=steps,
                                                      internal_batch_size=len(tokens) * steps).sum(-1)
        for i, position in enumerate(positions):
            attention.append(weights[i, units[position]])
            gradient.append(ig[i, units[position]].detach().cpu().numpy())

    @torch.no_grad()
    def part(chosen: list[int], keeps: list[np.ndarray]) -> np.ndarray:
        batch = batcher.batch(np.asarray(chosen))
        for j, (position, keep) in enumerate(zip(chosen, keeps)):  # a deleted past event is one it cannot see
            batch["valid"][j, units[position][~keep]] = False
        logits = model({key: value.to(device) for key, value in batch.items()}).logits
        return torch.sigmoid(logits.float()).cpu().numpy()

    return ({"attention": attention, "integrated_gradients": gradient},
            lambda rows, keeps: _in_batches(rows, keeps, batch_size, part))
