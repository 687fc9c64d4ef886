"""Text explanations: word boundaries, WordPiece weights summed into words, attention pooled by
rollout, corpus insights and the HTML highlighting, against hand-computed values."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from attnsight.data.texts import word_spans
from attnsight.explain.text import (
    WordWeight,
    corpus_insights,
    highlight_html,
    html_page,
    pooled_attention,
    strongest_words,
    wide_evidence,
    word_weights,
)
from attnsight.models.text import TextConfig, TextTransformer


def words_of(text: str) -> list[str]:
    return [text[s:e] for s, e in word_spans(text)]


# ----------------------------------------------------------------------------- word boundaries


def test_english_words_keep_inner_apostrophes_and_split_punctuation():
    text = "It's the hotel's best, isn't it?!"
    assert words_of(text) == ["It's", "the", "hotel's", "best", ",", "isn't", "it", "?", "!"]
    assert words_of("'quoted' ok") == ["'", "quoted", "'", "ok"]  # outer quotes are punctuation
    assert words_of("  ") == []


def test_chinese_spans_cover_every_character_in_order():
    text = "房间很干净，服务也不错。早餐难吃"
    spans = word_spans(text)
    assert spans == sorted(spans)
    assert all(end > start for start, end in spans)
    assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:]))  # non-overlapping
    covered = {i for start, end in spans for i in range(start, end)}
    assert covered == set(range(len(text)))
    assert len(spans) < len(text)  # words, not characters: jieba joined some
    assert "".join(text[s:e] for s, e in spans) == text


def test_mixed_chinese_and_english_drops_whitespace():
    text = "早餐难吃 but the view"
    pieces = words_of(text)
    assert "but" in pieces and "view" in pieces and all(p.strip() == p and p for p in pieces)
    # English inside Chinese text is cut as English alone is, not by jieba
    assert words_of("房间不错, the café's wifi didn't work") == \
        ["房间", "不错", ",", "the", "café's", "wifi", "didn't", "work"]


def test_words_keep_their_combining_marks_and_emoji_their_modifiers():
    assert words_of("फ़िल्म अच्छी है") == ["फ़िल्म", "अच्छी", "है"]
    assert words_of("جَمِيل naïve") == ["جَمِيل", "naïve"]
    assert words_of("great 👍🏽 1️⃣ 👨\u200d👩\u200d👧!") == ["great", "👍🏽", "1️⃣", "👨\u200d👩\u200d👧", "!"]


# ----------------------------------------------------------------------------- word weights


def test_wordpieces_are_summed_into_words_and_renormalised():
    text = "unbelievably clean room."
    offsets = [(0, 0), (0, 2), (2, 9), (9, 12), (13, 18), (19, 23), (23, 24), (0, 0)]  # [CLS] un ##believ ##ably ...
    weights = [0.3, 0.1, 0.1, 0.2, 0.1, 0.05, 0.05, 0.1]
    out = word_weights(text, offsets, weights)
    assert [(w.word, w.start, w.end) for w in out] == [
        ("unbelievably", 0, 12), ("clean", 13, 18), ("room", 19, 23), (".", 23, 24)]
    # special tokens are left out: 0.4 + 0.1 + 0.05 + 0.05 = 0.6 is renormalised to 1
    assert [w.weight for w in out] == pytest.approx([0.4 / 0.6, 0.1 / 0.6, 0.05 / 0.6, 0.05 / 0.6])
    assert sum(w.weight for w in out) == pytest.approx(1.0)


def test_chinese_characters_are_summed_into_jieba_words():
    text = "房间很干净"
    offsets = [(0, 0)] + [(i, i + 1) for i in range(len(text))] + [(0, 0)]
    char_weights = [0.1, 0.2, 0.3, 0.4, 0.5]
    out = word_weights(text, offsets, [9.0, *char_weights, 9.0])
    spans = word_spans(text)
    expected = [sum(char_weights[s:e]) / sum(char_weights) for s, e in spans]
    assert [(w.start, w.end) for w in out] == spans
    assert [w.weight for w in out] == pytest.approx(expected)


def test_truncated_text_gives_words_past_the_end_zero_weight():
    out = word_weights("good room bad", [(0, 0), (0, 4), (5, 9), (0, 0)], [0.5, 1.0, 3.0, 0.5])
    assert [w.weight for w in out] == pytest.approx([0.25, 0.75, 0.0])


def test_no_weights_at_all_does_not_divide_by_zero():
    out = word_weights("a b", [(0, 0), (0, 0)], [1.0, 1.0])
    assert [w.weight for w in out] == [0.0, 0.0]


# ----------------------------------------------------------------------------- pooled attention

# one layer, two heads, three positions; the last is padding (it attends only to itself)
HEAD0 = [[0.5, 0.5, 0.0], [0.2, 0.8, 0.0], [0.0, 0.0, 1.0]]
HEAD1 = [[1.0, 0.0, 0.0], [0.6, 0.4, 0.0], [0.0, 0.0, 1.0]]
MASK = torch.tensor([[True, True, False]])


def one_layer(*heads) -> tuple[torch.Tensor]:
    return (torch.tensor([list(heads)], dtype=torch.float32),)


def test_cls_pooling_reads_the_first_row_of_the_rollout():
    # heads averaged: row 0 = [0.75, 0.25, 0]; 0.5 A + 0.5 I = [0.875, 0.125, 0]
    out = pooled_attention(one_layer(HEAD0, HEAD1), MASK, "cls")
    assert out.tolist()[0] == pytest.approx([0.875, 0.125, 0.0])


def test_mean_pooling_averages_the_rows_of_real_tokens():
    # rows 0 and 1 of 0.5 A + 0.5 I: [0.875, 0.125, 0] and [0.2, 0.8, 0]; padding row [0, 0, 1] is left out
    out = pooled_attention(one_layer(HEAD0, HEAD1), MASK, "mean")
    assert out.tolist()[0] == pytest.approx([0.5375, 0.4625, 0.0])
    assert out.sum().item() == pytest.approx(1.0)


def test_padding_gets_zero_weight_even_when_attended():
    head = [[0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.0, 0.0, 1.0]]
    # cls row: 0.5 * [0.5, 0.3, 0.2] + 0.5 * [1, 0, 0] = [0.75, 0.15, 0.1], padding masked out
    cls = pooled_attention(one_layer(head, head), MASK, "cls")
    assert cls.tolist()[0] == pytest.approx([0.75, 0.15, 0.0])
    mean = pooled_attention(one_layer(head, head), MASK, "mean")
    # rows [0.75, 0.15, 0.1] and [0.2, 0.7, 0.1] averaged, then padding zeroed
    assert mean.tolist()[0] == pytest.approx([0.475, 0.425, 0.0])


def test_two_layers_are_rolled_out_by_matrix_product():
    a1 = np.array(HEAD0)
    a2 = np.array([[0.1, 0.9, 0.0], [0.3, 0.7, 0.0], [0.0, 0.0, 1.0]])
    r1, r2 = 0.5 * a1 + 0.5 * np.eye(3), 0.5 * a2 + 0.5 * np.eye(3)
    rollout = r2 @ r1
    layers = (torch.tensor([[HEAD0]], dtype=torch.float32), torch.tensor([[a2.tolist()]], dtype=torch.float32))
    assert pooled_attention(layers, MASK, "cls").tolist()[0] == pytest.approx((rollout[0] * [1, 1, 0]).tolist())
    expected_mean = (rollout[0] + rollout[1]) / 2 * [1, 1, 0]
    assert pooled_attention(layers, MASK, "mean").tolist()[0] == pytest.approx(expected_mean.tolist())


def test_batches_are_pooled_row_by_row():
    layer = torch.tensor([[HEAD0, HEAD1], [HEAD1, HEAD0]], dtype=torch.float32)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    out = pooled_attention((layer,), mask, "mean")
    assert out[0].tolist() == pytest.approx([0.5375, 0.4625, 0.0])
    assert out[1].tolist() == pytest.approx([0.875, 0.0, 0.0])  # only row 0 is real; its other weights masked


# ----------------------------------------------------------------------------- corpus insights


def ww(*pairs) -> list[WordWeight]:
    return [WordWeight(word, 0, len(word), weight) for word, weight in pairs]


CORPUS = [
    ("pos", ww(("Clean", 0.6), ("room", 0.3), ("!", 0.1))),
    ("pos", ww(("clean", 0.6), ("staff", 0.4))),
    ("neg", ww(("dirty", 0.7), ("room", 0.3), ("...", 0.0))),
    ("pos", ww(("room", 0.2), ("clean", 0.4), ("CLEAN", 0.4))),  # a word twice in a text counts one text
]


def row(rows: list[dict], word: str) -> dict:
    (found,) = [r for r in rows if r["word"] == word]
    return found


def test_corpus_insights_by_hand():
    out = corpus_insights(CORPUS, top=10, min_count=1)
    assert list(out) == ["neg", "pos"]
    pos = out["pos"]
    # pos: 3 texts; clean 0.6 + 0.6 + 0.8 = 2.0 in 3 texts, room 0.3 + 0.2 = 0.5 in 2, staff 0.4 in 1; mass 2.9
    assert [r["word"] for r in pos] == ["clean", "room", "staff"]  # lower-cased, punctuation left out
    assert row(pos, "clean") == pytest.approx(
        {"word": "clean", "attention": 2.0 / 2.9, "texts": 3, "frequency": 1.0, "mean_attention": 2.0 / 3,
         "lift": 1.0 / (3 / 4)})
    assert row(pos, "room") == pytest.approx(
        {"word": "room", "attention": 0.5 / 2.9, "texts": 2, "frequency": 2 / 3, "mean_attention": 0.25,
         "lift": (2 / 3) / (3 / 4)})
    assert row(pos, "staff")["lift"] == pytest.approx((1 / 3) / (1 / 4))
    neg = out["neg"]
    assert [r["word"] for r in neg] == ["dirty", "room"]
    assert row(neg, "dirty") == pytest.approx(
        {"word": "dirty", "attention": 0.7, "texts": 1, "frequency": 1.0, "mean_attention": 0.7, "lift": 4.0})
    assert row(neg, "room")["lift"] == pytest.approx(1.0 / (3 / 4))
    assert sum(r["attention"] for r in pos) == pytest.approx(1.0)


def test_min_count_and_top_filter_after_the_shares_are_computed():
    out = corpus_insights(CORPUS, top=10, min_count=2)
    assert [r["word"] for r in out["pos"]] == ["clean", "room"]
    assert row(out["pos"], "clean")["attention"] == pytest.approx(2.0 / 2.9)  # staff still counts in the mass
    assert out["neg"] == []
    assert [r["word"] for r in corpus_insights(CORPUS, top=1, min_count=1)["pos"]] == ["clean"]
    assert [r["word"] for r in corpus_insights(CORPUS, min_count=3)["pos"]] == ["clean"]


# ----------------------------------------------------------------------------- HTML


def test_strongest_words_leave_out_punctuation_and_keep_the_order_of_shares():
    words = [WordWeight("Great", 0, 5, 0.2), WordWeight("!", 5, 6, 0.4), WordWeight("room", 7, 11, 0.3),
             WordWeight("。", 11, 12, 0.05), WordWeight("3rd", 12, 15, 0.05)]
    assert strongest_words(words, 2) == "room 0.30, Great 0.20"
    assert strongest_words(words, 9) == "room 0.30, Great 0.20, 3rd 0.05"
    assert strongest_words([WordWeight("?!", 0, 2, 1.0)], 3) == ""


def test_highlight_html_escapes_the_text_and_shades_each_word():
    text = "<b>Tom</b> & Jerry's \"inn\""
    spans = word_spans(text)
    words = [WordWeight(text[s:e], s, e, 0.0) for s, e in spans]
    words[3] = WordWeight("Tom", *spans[3], 1.0)
    out = highlight_html(text, words, title="<script>x</script>")
    assert "<b>" not in out and "<script>" not in out
    assert out.count("<span ") == len(words) == len(spans)
    assert out.count("</span>") == len(words)
    assert "&lt;script&gt;x&lt;/script&gt;" in out
    assert ">&amp;</span>" in out and ">Jerry&#x27;s</span>" in out and ">&quot;</span>" in out
    assert 'title="1.000" style="background: rgba(230, 85, 13, 1.00)">Tom</span>' in out
    # stripping the tags gives back the escaped text
    import html

    assert html.unescape(re.sub(r"<[^>]+>", "", out.split("<p>", 1)[1].rsplit("</p>", 1)[0])) == text


def test_html_page_is_self_contained():
    page = html_page([highlight_html("good room", ww(("good", 0.7)) + [WordWeight("room", 5, 9, 0.3)])], title="a & b")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<meta charset='utf-8'>" in page and "<title>a &amp; b</title>" in page
    assert "<script" not in page and "http" not in page and "src=" not in page
    assert page.count("<span ") == 2


# ----------------------------------------------------------------------------- the wide head's evidence


def test_wide_evidence_by_hand():
    """Token 11 weighs +0.5 for class 1 (centred), the pair (11, 12) +0.25; idf 2 for token 11, 1
    elsewhere. An occurrence adds idf * weight / ||row||, a pair half to each of its tokens: in
    [CLS] 11 12 [SEP] token 11 holds 2 * 0.5 + 0.125 and token 12 holds 0.125, so 0.9 and 0.1."""
    torch.manual_seed(0)
    model = TextTransformer(TextConfig(vocab_size=50, max_len=8, dim=8, num_layers=1, num_heads=2, ffn_dim=16,
                                       num_labels=2, wide_buckets=1001)).eval()
    ids = torch.tensor([[2, 11, 12, 3, 0], [2, 12, 11, 3, 0]])
    valid = ids != 0
    features, present = model.wide_features(ids, valid)
    pair = int(features[0, 5 + 2])  # the pair at position 2 is (11, 12)
    assert present[0].tolist() == [True] * 4 + [False] + [False, True, True, True, False]
    assert len({int(f) for f in features[:, 5:][present[:, 5:]]}) == 6  # no two pairs share a bucket
    head = model.wide
    with torch.no_grad():
        head.weight[11] = torch.tensor([-0.5, 0.5]) + 3.0  # a shift common to both classes changes nothing
        head.weight[pair] = torch.tensor([-0.25, 0.25])
        head.idf[11] = 2.0
    special = torch.isin(ids, torch.tensor([2, 3]))
    evidence = wide_evidence(model, ids, valid, torch.tensor([1, 1]), special)
    assert evidence[0].tolist() == pytest.approx([0.0, 0.9, 0.1, 0.0, 0.0])
    assert evidence[1].tolist() == pytest.approx([0.0, 0.0, 1.0, 0.0, 0.0])  # the pair (12, 11) weighs nothing
    against = wide_evidence(model, ids, valid, torch.tensor([0, 0]), special)  # nothing speaks for class 0
    assert against.tolist() == [[0.0] * 5] * 2
