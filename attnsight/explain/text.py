"""Which words a text classifier attended to: per text (rollout from the pooled representation,
and a wide head's exact evidence mixed in) and across a corpus (per class, attention against
frequency)."""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from attnsight.data.texts import token_words, word_spans
from attnsight.explain.attention import attention_rollout

if TYPE_CHECKING:
    from attnsight.models.text import TextTransformer


@dataclass
class WordWeight:
    word: str
    start: int  # character span in the (cleaned) text
    end: int
    weight: float  # share of the evidence (attention or gradients, a wide head's mixed in) over the text's words


def pooled_attention(attentions: Sequence[Tensor], attention_mask: Tensor, pooling: str) -> Tensor:
    """(B, T) attention the pooled representation pays to each token, rolled out over layers.

    CLS pooling reads the [CLS] row of the rollout; mean pooling averages the rows of the real
    tokens, since the pooled vector is their mean.
    """
    rollout = attention_rollout(attentions)  # (B, T, T)
    mask = attention_mask.to(rollout.dtype)
    if pooling == "cls":
        weights = rollout[:, 0]
    else:
        weights = (rollout * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
    return weights * mask


def wide_evidence(model: TextTransformer, input_ids: Tensor, attention_mask: Tensor, target: Tensor,
                  special: Tensor) -> Tensor:
    """(B, T) share of the wide head's evidence for each text's `target` class held by each token.

    The wide head is linear in its TF-IDF features, so each occurrence of a feature adds exactly
    idf / ‖row‖ times its weight to the logits; a token holds its own occurrence and half of each
    pair it is in. Weights are centred over the classes first (softmax ignores a shift common to
    all of them). As for gradients, only evidence for the class counts, and `special` tokens hold none.
    """
    head, valid = model.wide, attention_mask.bool()
    features, present = model.wide_features(input_ids, valid)
    norm = head.row_norms(model.wide_counts(input_ids, valid))
    centred = head.weight - head.weight.mean(1, keepdim=True)
    share = head.idf[features] * centred[features, target.unsqueeze(1)] / norm.unsqueeze(1) * present
    T = input_ids.shape[1]
    tokens, pairs = share[:, :T], share[:, T:] / 2  # the pair at t is (t - 1, t)
    evidence = tokens + pairs + torch.nn.functional.pad(pairs[:, 1:], (0, 1))
    evidence = evidence.clamp(min=0).masked_fill(special | ~valid, 0.0)
    return evidence / evidence.sum(1, keepdim=True).clamp(min=1e-12)


def mixed_evidence(model: TextTransformer, evidence: Tensor, input_ids: Tensor, attention_mask: Tensor,
                   target: Tensor, special: Tensor) -> Tensor:
    """(B, T) the attention head's non-negative `evidence`, `special` tokens zeroed and rows summing
    to one, mixed with the wide head's (`wide_evidence`) in the share the logits mix the two heads."""
    evidence = evidence.masked_fill(special, 0.0)
    evidence = evidence / evidence.sum(1, keepdim=True).clamp(min=1e-12)
    mix = float(model.wide.mix) if model.wide is not None else 0.0
    if not mix:
        return evidence
    return (1 - mix) * evidence + mix * wide_evidence(model, input_ids, attention_mask, target, special)


def word_weights(text: str, offsets: Sequence[tuple[int, int]], token_weights: Sequence[float]) -> list[WordWeight]:
    """Token attention summed into words (a word's WordPieces, or a Chinese word's characters),
    renormalised to sum to one over the words of the text."""
    spans = word_spans(text)
    totals = np.zeros(len(spans))
    words = token_words(spans, offsets)
    weights, inside = np.asarray(token_weights, dtype=np.float64)[: len(words)], words >= 0
    np.add.at(totals, words[inside], weights[inside])
    norm = totals.sum() or 1.0
    return [WordWeight(text[s:e], s, e, float(t / norm)) for (s, e), t in zip(spans, totals)]


def _is_word(word: str) -> bool:
    return any(ch.isalnum() for ch in word)


def strongest_words(words: Sequence[WordWeight], n: int) -> str:
    """The n words with the largest shares, most first, as "word 0.31, word 0.12". Punctuation is
    left out, as in corpus_insights: attention often rests on it as a separator, which says nothing
    about what the text is about (the highlighted text still shows its share)."""
    best = sorted((w for w in words if _is_word(w.word)), key=lambda w: w.weight, reverse=True)[:n]
    return ", ".join(f"{w.word} {w.weight:.2f}" for w in best)


def corpus_insights(
    labelled_words: Sequence[tuple[str, Sequence[WordWeight]]], top: int = 20, min_count: int = 3
) -> dict[str, list[dict[str, Any]]]:
    """Per class, the words the model attends to most, beside how often they occur.

    labelled_words: (predicted class, word weights) per text. For each class: `attention` is the
    word's share of all the attention the class's texts pay to words, `texts` how many of them
    contain it, `frequency` that count over the class size, `mean_attention` the attention it gets
    where it occurs, and `lift` how much more often it occurs in this class than in the corpus.
    Punctuation is left out; words are lower-cased.
    """
    by_class: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    class_size: dict[str, int] = defaultdict(int)
    corpus_count: dict[str, int] = defaultdict(int)
    for label, words in labelled_words:
        class_size[label] += 1
        seen: dict[str, float] = defaultdict(float)
        for w in words:
            if _is_word(w.word):
                seen[w.word.lower()] += w.weight
        for word, weight in seen.items():
            stats = by_class[label][word]
            stats[0] += weight
            stats[1] += 1
            corpus_count[word] += 1
    total_texts = sum(class_size.values())
    out: dict[str, list[dict[str, Any]]] = {}
    for label in sorted(class_size):
        stats = by_class[label]
        mass = sum(s[0] for s in stats.values()) or 1.0
        rows = [
            {
                "word": word,
                "attention": weight / mass,
                "texts": int(count),
                "frequency": count / class_size[label],
                "mean_attention": weight / count,
                "lift": (count / class_size[label]) / (corpus_count[word] / total_texts),
            }
            for word, (weight, count) in stats.items()
            if count >= min_count
        ]
        rows.sort(key=lambda r: r["attention"], reverse=True)
        out[label] = rows[:top]
    return out


def highlight_html(text: str, words: Sequence[WordWeight], title: str = "") -> str:
    """The text with each word's background shaded by its attention (darkest = most attended)."""
    peak = max((w.weight for w in words), default=0.0) or 1.0
    parts, cursor = [], 0
    for w in words:
        parts.append(html.escape(text[cursor : w.start]))
        alpha = w.weight / peak
        parts.append(
            f'<span title="{w.weight:.3f}" style="background: rgba(230, 85, 13, {alpha:.2f})">'
            f"{html.escape(text[w.start : w.end])}</span>"
        )
        cursor = w.end
    parts.append(html.escape(text[cursor:]))
    heading = f"<h3>{html.escape(title)}</h3>" if title else ""
    return f'<div class="attnsight-text">{heading}<p>{"".join(parts)}</p></div>'


def html_page(sections: Sequence[str], title: str = "attnsight — text explanations") -> str:
    """A self-contained HTML page (no scripts, no network) around explanation sections."""
    body = "\n".join(sections)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:52em;margin:2em auto;line-height:1.7}"
        "span{border-radius:3px;padding:0 1px}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )
