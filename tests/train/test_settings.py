"""check_settings: the ranges of the training settings, for the Python API and the command line alike."""

from __future__ import annotations

import pytest
import sklearn.base

from attnsight import RiskScorer, SequentialRecommender, TextClassifier
from attnsight.errors import ConfigError
from attnsight.train.settings import check_settings


@pytest.mark.parametrize("settings, message", [
    ({"batch_size": 0}, "batch_size must be at least 1, not 0"),
    ({"num_layers": 0}, "num_layers must be at least 1, not 0"),  # the estimator's name of --layers
    ({"dropout": 1.5}, "dropout must be at least 0 and below 1, not 1.5"),
    ({"lr": float("inf")}, "lr must be positive and finite, not inf"),
    ({"pos_weight": float("inf")}, "pos_weight must be positive and finite, not inf"),
    ({"dim": "32"}, "dim must be a number, not '32'"),
    ({"epochs": True}, "epochs must be a number, not True"),
])
def test_a_setting_out_of_range_is_named(settings, message):
    with pytest.raises(ConfigError, match=f"^{message}$"):
        check_settings(settings)


def test_options_are_named_as_flags_and_unset_or_unranged_ones_pass():
    with pytest.raises(ConfigError, match="^--layers must be at least 1, not 0$"):
        check_settings({"layers": 0}, as_options=True)
    check_settings({"lr": None, "device": "cpu", "pooling": "mean", "dim": 8, "dropout": 0.0})


@pytest.mark.parametrize("estimator", [SequentialRecommender, TextClassifier, RiskScorer])
def test_fit_checks_its_settings_before_reading_any_data(estimator, tmp_path):
    with pytest.raises(ConfigError, match="^batch_size must be at least 1, not 0$"):
        estimator(batch_size=0).fit(tmp_path / "no-such-file.csv")


@pytest.mark.parametrize("estimator", [SequentialRecommender, TextClassifier, RiskScorer])
def test_hyperparameters_follow_scikit_learn(estimator):
    model = estimator(dim=8, lr=0.01)
    assert model.set_params(seed=5) is model and model.get_params()["seed"] == 5
    copied = sklearn.base.clone(model)  # scikit-learn's own copy: get_params(deep=...) and the stored arguments
    assert copied is not model and copied.get_params() == model.get_params()
    assert repr(model) == f"{estimator.__name__}(dim=8, lr=0.01, seed=5)"
    with pytest.raises(ValueError, match="no_such_param"):
        model.set_params(no_such_param=1)
