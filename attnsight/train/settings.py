"""The range of each numeric training setting, checked alike where the command line, `tune`, a
--config file and the Python API give it: a batch of 0 or a dropout of 1.5 is named before any data
is read, not met as a division by zero an epoch later."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

from attnsight.errors import ConfigError


def _at_least(low: float) -> tuple[str, Callable[[float], bool]]:
    return f"at least {low:g}", lambda v: v >= low


_POSITIVE = ("positive", lambda v: v > 0)
_RATE = ("positive and finite", lambda v: 0 < v < math.inf)
_SHARE = ("at least 0 and below 1", lambda v: 0 <= v < 1)
_FRACTION = ("above 0 and at most 1", lambda v: 0 < v <= 1)
# the numeric options of the train commands (by name, as `tune` and --config files give them too)
# that have a range, and what it is
RANGES: dict[str, tuple[str, Callable[[float], bool]]] = {
    **dict.fromkeys(("epochs", "dim", "layers", "heads", "batch_size", "patience", "restarts", "history_len",
                     "min_len", "min_user_events", "min_item_events", "train_days", "test_days"), _at_least(1)),
    **dict.fromkeys(("pretrain_epochs", "negatives", "weight_decay", "seed", "valid_days", "gap_days",
                     "label_delay_days"), _at_least(0)),
    "max_len": _at_least(3),  # a text's [CLS] and [SEP] take two
    "vocab_size": _at_least(100),  # below that a WordPiece vocabulary is little more than its alphabet
    **dict.fromkeys(("bigram_buckets", "wide_buckets"), ("0 (off) or at least 2", lambda v: v == 0 or v >= 2)),
    **dict.fromkeys(("lr", "pos_weight"), _RATE),  # an infinite weight makes every loss infinite
    # a budget of 0 would mean none to the Trainer (demo's are per task)
    **dict.fromkeys(("time_budget", "text_budget", "risk_budget"), _POSITIVE),
    **dict.fromkeys(("dropout", "label_smoothing", "valid_size", "test_size"), _SHARE),
    "mask_prob": ("above 0 and below 1", lambda v: 0 < v < 1),
    **dict.fromkeys(("layer_lr_decay", "negative_rate"), _FRACTION),
}
# the estimators' names of two of them
_ALIASES = {"num_layers": "layers", "num_heads": "heads"}


def check_settings(settings: Mapping[str, Any], as_options: bool = False) -> None:
    """A ConfigError for the first setting out of its range, named as the estimator's parameter
    (`num_layers`) or, `as_options`, as the command's option (`--layers`); unset ones pass."""
    for name, value in settings.items():
        key = _ALIASES.get(name, name)
        if key not in RANGES or value is None:
            continue
        shown = f"--{key.replace('_', '-')}" if as_options else name
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ConfigError(f"{shown} must be a number, not {value!r}")
        allowed, holds = RANGES[key]
        if not holds(value):
            raise ConfigError(f"{shown} must be {allowed}, not {value:g}")
