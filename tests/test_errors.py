"""helpers.errors: the one integer check (check_int) and its predicate (is_int)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import errors


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(0)])
def test_check_int_returns_a_python_int(value):
    result = errors.check_int(value, name="n", minimum=0)
    assert result == int(value) and type(result) is int


@pytest.mark.parametrize(("value", "message"), [
    (True, "n=True must be an integer >= 1"), (np.bool_(True), "must be an integer >= 1"),
    (2.0, "n=2.0 must be an integer >= 1"), ("2", "n='2' must be an integer >= 1"),
    (0, "n=0 must be >= 1")])
def test_check_int_names_the_argument_and_raises_the_given_class(value, message):
    with pytest.raises(errors.DatasetError, match=message):
        errors.check_int(value, name="n", minimum=1, error=errors.DatasetError)


def test_is_int_agrees_with_check_int():
    assert errors.is_int(5) and errors.is_int(np.int64(-5)) and errors.is_int(1, minimum=1)
    assert not errors.is_int(0, minimum=1)
    assert not any(errors.is_int(v) for v in (True, 1.0, None, "1", np.float64(1)))
