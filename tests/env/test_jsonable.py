"""to_jsonable: numpy, tuples, keys, NaN; clear errors for things JSON cannot hold."""

from __future__ import annotations

import enum
import json
import math
from collections import OrderedDict

import pytest

from mug.env import to_jsonable


def test_plain_values() -> None:
    value = {"a": (1, 2.5, "x"), 3: [None, True], "nested": {"k": OrderedDict(z=1)}}
    assert to_jsonable(value) == {"a": [1, 2.5, "x"], "3": [None, True], "nested": {"k": {"z": 1}}}


def test_nan_and_inf_become_none() -> None:
    assert to_jsonable([math.nan, math.inf, -math.inf, 1.0]) == [None, None, None, 1.0]


def test_sets_bytes_enums_and_key_types() -> None:
    class Color(enum.Enum):
        RED = 1

    assert to_jsonable({2, 1}) == [1, 2]
    assert to_jsonable(b"ab") == "ab"
    assert to_jsonable(Color.RED) == 1
    assert to_jsonable({(1, 2): 0, None: 1, False: 2, 1.5: 3}) == {
        "(1, 2)": 0,
        "null": 1,
        "false": 2,
        "1.5": 3,
    }


def test_numpy_values() -> None:
    np = pytest.importorskip("numpy")
    value = {
        "obs": np.arange(6, dtype=np.float32).reshape(2, 3),
        "r": np.float64(0.5),
        "i": np.int64(3),
        "b": np.bool_(True),
        "nan": np.float32("nan"),
        "zero_d": np.array(2.0),
        np.int32(7): "key",
        "arr_nan": np.array([1.0, np.inf]),
    }
    result = to_jsonable(value)
    assert result == {
        "obs": [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]],
        "r": 0.5,
        "i": 3,
        "b": True,
        "nan": None,
        "zero_d": 2.0,
        "7": "key",
        "arr_nan": [1.0, None],
    }
    assert type(result["i"]) is int and type(result["r"]) is float and type(result["b"]) is bool
    json.dumps(result, allow_nan=False)


def test_unconvertible_values_name_their_path() -> None:
    with pytest.raises(TypeError, match=r"value\['info'\]\[1\] is a builtins.object"):
        to_jsonable({"info": [1, object()]})
    with pytest.raises(TypeError, match="complex number"):
        to_jsonable([1j])


def test_cycles_are_reported() -> None:
    loop: list = []
    loop.append(loop)
    with pytest.raises(TypeError, match="nested more than"):
        to_jsonable(loop)
