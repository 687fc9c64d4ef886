"""The text classifier's own parts: example explanations as highlighted words, and the words each
class is attended for. Both read texts from the bundle's data file: the bundle keeps none."""

from __future__ import annotations

import numpy as np
from markupsafe import Markup

from attnsight.classifier import TextClassifier, bundle_columns
from attnsight.data.texts import Texts, read_texts
from attnsight.explain.text import highlight_html, strongest_words
from attnsight.report import figures
from attnsight.report.blocks import Figure, Note, Paragraph, Part, Table
from attnsight.report.bundles import Bundle
from attnsight.report.common import dim

MAX_TEXTS = 2000  # a random sample beyond this: insights settle long before, and the report stays quick
PER_CLASS, READ_FOR_EXAMPLES = 3, 60  # examples shown per predicted class, among the first texts of the sample
TOP_WORDS, SHOWN_WORDS, LIFT = 15, 10, 1.2  # lift 1.2: occurs 20% more often in the class than overall


def _sample(bundle: Bundle, seed: int) -> Texts | None:
    """The texts of the data file (a seeded sample of MAX_TEXTS when larger), read once per bundle."""
    if bundle.data is None:
        return None
    if "texts" not in bundle.inputs:
        columns = bundle_columns(bundle.config)
        texts = read_texts(bundle.data, columns["text"], columns["label"], encoding=bundle.encoding)
        read = f"{len(texts):,} texts of {bundle.data.name}"
        if len(texts) > MAX_TEXTS:
            texts = texts.take(np.sort(np.random.default_rng(seed).choice(len(texts), MAX_TEXTS, replace=False)))
            read = f"a random {len(texts):,} of the {read}"
        bundle.inputs["texts"], bundle.inputs["read"] = texts, read
    return bundle.inputs["texts"]


def _no_texts(part: Part, bundle: Bundle) -> Part:
    part.blocks.append(Note(f"Needs texts, which the bundle does not keep: give a data file with a "
                            f"'{bundle_columns(bundle.config)['text']}' column (--data)."))
    return part


def explanations_part(bundle: Bundle, seed: int) -> Part:
    part = Part("Example explanations")
    texts = _sample(bundle, seed)
    if texts is None:
        return _no_texts(part, bundle)
    clf: TextClassifier = bundle.predictor
    first = texts.take(np.arange(min(READ_FOR_EXAMPLES, len(texts))))
    truth = first.labels if first.has_labels else [None] * len(first)
    shown: dict[str, int] = {}
    rows = []
    for e, label in zip(clf.explain(first.texts), truth):
        if shown.get(e.label, 0) == PER_CLASS:
            continue
        shown[e.label] = shown.get(e.label, 0) + 1
        note = " (longer than the encoder reads: words are weighed in the part it read)" if e.truncated else ""
        rows.append([dim(e.label, f"{e.probabilities[e.label]:.2f}"), label or "—",
                     Markup(highlight_html(e.text, e.words)) + note,  # highlight_html escapes the text
                     strongest_words(e.words, 3)])
    evidence = ("attention the classifier's pooled representation paid to it (rolled out over the layers"
                if clf.default_explain_method() == "attention" else
                "evidence integrated gradients give it for the predicted class (for this encoder, more faithful "
                "than attention by the deletion test")
    part.blocks.append(Paragraph(f"Up to {PER_CLASS} texts per predicted class, taken in order from the first "
                                 f"{len(first):,} of {bundle.inputs['read']}, each word shaded by its share of the "
                                 f"{evidence}; darker = more)."))
    part.blocks.append(Table(["predicted (probability)", "true label", "text, shaded by its explanation",
                              "strongest words (share)"], rows, "Explained texts"))
    return part


def words_part(bundle: Bundle, seed: int) -> Part:
    part = Part("Attended words per class")
    texts = _sample(bundle, seed)
    if texts is None:
        return _no_texts(part, bundle)
    insights = bundle.predictor.insights(texts.texts, top=TOP_WORDS)
    if not any(insights.values()):
        part.blocks.append(Note("No word occurs in 3 texts of a class: too few texts for per-class insights."))
        return part
    part.blocks.append(Paragraph(f"Over {bundle.inputs['read']}, grouped by predicted class: the words the class's "
                                 "texts are attended for, as a share of all the attention they pay to words. "
                                 f"Distinctive words occur at least {LIFT:g}× as often in the class as overall."))
    part.blocks.append(Figure(figures.word_bars(insights, SHOWN_WORDS, LIFT),
                              f"The {SHOWN_WORDS} most attended words per predicted class (words in at least 3 "
                              "of its texts)."))
    rows = [[label, ", ".join(f"{w['word']} {w['attention']:.0%}" for w in words[:SHOWN_WORDS]),
             ", ".join(f"{w['word']} ({w['lift']:.1f}×)" for w in words if w["lift"] >= LIFT) or "—"]
            for label, words in insights.items()]
    part.blocks.append(Table(["predicted class", "most attended words (share of attention)",
                              "distinctive words (lift)"], rows, "Words per class"))
    return part


PARTS = (explanations_part, words_part)
