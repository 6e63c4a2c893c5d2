"""Arrays for a split plan: z-normalisation fitted on the training portion only."""

import numpy as np
import pytest

from distser.arrays import UNLABELED
from distser.features import TaskLoader
from distser.protocols import loco


def test_znorm_fitted_on_training_parts_only(synthetic_store):
    loader = TaskLoader(synthetic_store)
    task = loader.task(loco(loader.manifest, "iemocap", unlabeled="librispeech"))
    pooled = np.concatenate([part.features for part in task.train.values()])
    np.testing.assert_allclose(pooled.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(pooled.std(axis=0), 1, atol=1e-3)
    # The held-out corpus is shifted by its own recording conditions: not centred by the training fit.
    assert np.abs(task.test.features.mean(axis=0)).mean() > 0.1
    assert task.unlabeled is not None and (task.unlabeled.labels == UNLABELED).all()
    assert set(np.unique(task.test.labels)) == {0, 1, 2, 3}
    assert task.train["crema-d"].soft_labels is not None and task.train["msp-podcast"].soft_labels is None


def test_unnormalised_task_keeps_raw_features(synthetic_store):
    loader = TaskLoader(synthetic_store)
    plan = loco(loader.manifest, "iemocap")
    raw = loader.task(plan, normalize=False)
    rows = loader.rows(plan.test)
    np.testing.assert_array_equal(raw.test.features, loader.features[rows])


def test_missing_features_are_named(synthetic_store):
    loader = TaskLoader(synthetic_store)
    with pytest.raises(KeyError, match="no features in the store"):
        loader.rows(np.array(["crema-d/999999"], dtype=object))


@pytest.mark.parametrize("method", ["cww+pel", "merged"])
def test_the_order_of_a_stores_rows_changes_no_training(synthetic_store, method):
    """Extraction writes rows in the order its parallel tasks finish; a seed must give the same training
    from any order of the same rows (plans list utterances in id order, and minibatches follow plans)."""
    from distser.learning import TrainConfig, Trainer

    manifest, features = synthetic_store.load()
    shuffled = np.random.default_rng(1).permutation(len(manifest))

    def fit(order):
        loader = TaskLoader.from_arrays(manifest.iloc[order].reset_index(drop=True), features[order])
        plan = loco(loader.manifest, "iemocap", unlabeled="librispeech")
        config = TrainConfig(method=method, max_epochs=2, hidden=(32, 16), seed=3, num_threads=1)
        return Trainer(loader.indexed(plan), config).fit()

    def epochs(result):  # every value of every epoch but its wall time
        return [{k: v for k, v in r.flat().items() if k != "seconds"} for r in result.history]

    original, permuted = fit(np.arange(len(manifest))), fit(shuffled)
    assert epochs(original) == epochs(permuted)
    assert original.test_ua == permuted.test_ua
