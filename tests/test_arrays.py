"""distser.arrays: statistics over a shared table, chunked."""

import numpy as np
import pytest

from distser import arrays
from distser.arrays import FeatureTable, Normalizer, chunk_rows


@pytest.mark.parametrize("chunk_bytes", [8 * 7 * 3, 8 * 7 * 1000, 1])  # 3 rows, every row at once, 1 row
def test_a_fit_in_chunks_is_bit_identical_to_numpy_on_the_gathered_rows(monkeypatch, chunk_bytes):
    monkeypatch.setattr(arrays, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(0)
    blocks = (rng.normal(3, 2, (11, 7)).astype(np.float32), rng.normal(-1, 5, (9, 7)).astype(np.float32))
    table = FeatureTable(blocks, labels=np.zeros(20, np.int64))
    rows = np.array([19, 0, 4, 12, 3, 10, 11, 8, 2, 17])  # across both blocks, out of order
    gathered = np.concatenate(blocks)[rows]
    fitted = Normalizer.fit(table, rows)
    np.testing.assert_array_equal(fitted.mean, gathered.mean(axis=0, dtype=np.float64).astype(np.float32))
    np.testing.assert_array_equal(fitted.std, gathered.std(axis=0, dtype=np.float64).astype(np.float32))


def test_a_chunk_is_bounded_in_bytes_whatever_the_width():
    assert chunk_rows(1582) * 1582 * 8 <= arrays.CHUNK_BYTES
    assert chunk_rows(6373) * 6373 * 8 <= arrays.CHUNK_BYTES < (chunk_rows(6373) + 1) * 6373 * 8
    assert chunk_rows(10**9) == 1
