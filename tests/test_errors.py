"""check_count: the count arguments of the Python API."""

from __future__ import annotations

import numpy as np
import pytest

from attnsight.errors import AttnsightError, ConfigError, check_count


def test_check_count_takes_whole_numbers_from_the_least_up():
    assert check_count("k", 3) == 3 and check_count("k", np.int64(7)) == 7 and check_count("explain", 0, least=0) == 0
    with pytest.raises(ConfigError, match="^k must be at least 1, not 0$") as caught:
        check_count("k", 0)
    assert isinstance(caught.value, (AttnsightError, ValueError))  # one line on the CLI, a ValueError in Python
    for value in (2.5, "3", None):
        with pytest.raises(TypeError, match=f"^top must be a whole number, not {value!r}$"):
            check_count("top", value)
