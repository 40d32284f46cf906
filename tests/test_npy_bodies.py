"""Issue 20: a .npy request body is read without unpickling, and a bad one is answered in words
an HTTP client can act on (numpy's own advice is to "load it unsafely using allow_pickle")."""

from __future__ import annotations

import io

import numpy as np
import pytest

from modelmill.core.io import read_npy


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def test_a_numeric_array_reads_back():
    array = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert np.array_equal(read_npy(npy(array)), array)


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"not numpy", "body is not a .npy array"),
        (npy(np.array([{"a": 1}], dtype=object), allow_pickle=True), "array of Python objects, which is never loaded"),
        (b"PK\x03\x04rest of a zip", "body is a .npz archive; send one .npy array"),
        (npy(np.zeros(10, np.uint8))[:60], "body is not a readable .npy array"),
    ],
)
def test_a_bad_body_is_one_plain_sentence(body, fragment):
    with pytest.raises(ValueError) as err:
        read_npy(body)
    assert fragment in str(err.value)
    assert "allow_pickle" not in str(err.value) and "\n" not in str(err.value)
