"""The batch cost model: which size a model runs best at, and the time a batch is predicted to take."""

from __future__ import annotations

import numpy as np

from service.core.batch_cost import BatchCost, measure, most_efficient


def test_a_model_that_gets_cheaper_per_row_runs_whole_batches() -> None:
    mlp_like = {1: 9.5, 2: 4.3, 4: 2.3, 8: 1.1, 16: 0.7, 32: 0.4, 64: 0.3}
    assert most_efficient(mlp_like, 64) == 64


def test_a_model_whose_rows_get_dearer_past_a_size_runs_in_chunks_of_it() -> None:
    cnn_like = {1: 85.0, 2: 80.0, 4: 77.0, 8: 75.4, 16: 74.4, 32: 79.0, 64: 92.0}
    assert most_efficient(cnn_like, 64) == 16
    assert most_efficient({1: 85.0, 2: 80.0, 4: 77.0, 8: 75.0, 16: 76.0, 32: 90.0}, 64) == 16  # a 1% tie: larger


def test_budget_cut_short_while_still_getting_cheaper_means_no_chunking() -> None:
    assert most_efficient({1: 100.0, 2: 60.0}, 64) == 64


def test_predicted_seconds_count_one_fixed_cost_per_chunk() -> None:
    cost = BatchCost(fixed_s=10e-6, per_row_s=1e-6, chunk_rows=8)
    assert np.isclose(cost.seconds(1), 11e-6)
    assert np.isclose(cost.seconds(8), 18e-6)
    assert np.isclose(cost.seconds(9), 2 * 10e-6 + 9e-6)


def test_measure_stays_within_the_batch_limit_and_fits_a_line() -> None:
    sizes: list[int] = []

    def run(arrays: dict[str, np.ndarray]) -> None:
        sizes.append(len(arrays["x"]))

    cost = measure(run, lambda rows: {"x": np.zeros((rows, 2), np.float32)}, max_rows=12, budget_s=1.0)
    assert sorted(set(sizes)) == [1, 2, 4, 8, 12]
    assert 1 <= cost.chunk_rows <= 12 and cost.fixed_s >= 0 and cost.per_row_s >= 0
