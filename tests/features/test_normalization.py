"""Normalisation of a plan: global (the paper's, unchanged), per corpus, per speaker, robust, adapted or not."""

import numpy as np
import pytest

from distser.arrays import FeatureTable, GroupNormalizer, Normalizer, concat_rows
from distser.features import Normalization, PlanParts, TaskLoader, fit_normalizer, normalize_target
from distser.learning import TrainConfig, Trainer
from distser.protocols import loco

CONFIG = TrainConfig(method="ce", max_epochs=2, hidden=(32, 16), seed=3, num_threads=1)


@pytest.fixture(scope="module")
def loader(synthetic_store):
    return TaskLoader(synthetic_store)


def _plan(loader, **options):
    return loco(loader.manifest, "iemocap", unlabeled="librispeech", **options)


def _epochs(result):  # every value of every epoch but its wall time
    return [{k: v for k, v in r.flat().items() if k != "seconds"} for r in result.history]


def test_global_is_the_papers_normaliser_bit_for_bit(loader):
    task = loader.indexed(_plan(loader))
    assert type(task.normalizer) is Normalizer
    before = Normalizer.fit(loader.table, concat_rows(task.train))  # what a plan always got
    np.testing.assert_array_equal(task.normalizer.mean, before.mean)
    np.testing.assert_array_equal(task.normalizer.std, before.std)


@pytest.mark.parametrize("name", ["corpus", "corpus-robust"])
def test_each_training_corpus_and_each_target_is_centred_by_its_own_statistics(loader, name):
    plan = _plan(loader, test_only=["crema-d"])
    task = loader.indexed(plan, normalization=Normalization.parse(name))
    assert isinstance(task.normalizer, GroupNormalizer)
    raw = np.abs(loader.table.gather(task.tests["iemocap"]).mean(axis=0)).mean()
    for corpus, rows in [*task.train.items(), *task.tests.items(), ("librispeech", task.unlabeled)]:
        x = task.normalizer.first_stage(loader.table.gather(rows), rows)
        center = np.median(x, axis=0) if name.endswith("robust") else x.mean(axis=0)
        # training corpora by their training rows exactly; targets and the unlabeled corpus by all of theirs
        np.testing.assert_allclose(center, 0, atol=1e-4, err_msg=corpus)
    adapted = task.features(task.tests["iemocap"])
    assert np.abs(adapted.mean(axis=0)).mean() < 0.2 < raw


def test_speakers_are_normalised_by_their_own_rows(loader):
    plan = _plan(loader)
    task = loader.indexed(plan, normalization=Normalization("speaker", min_speaker_rows=3))
    speakers = loader.speakers
    rows = task.tests["iemocap"]
    x = task.normalizer.first_stage(loader.table.gather(rows), rows)
    for speaker in np.unique(speakers[rows]):
        mine = speakers[rows] == speaker
        np.testing.assert_allclose(x[mine].mean(axis=0), 0, atol=1e-4)


def test_a_speaker_below_the_minimum_uses_their_corpus_statistics():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (30, 3)), rng.normal(8, 2, (13, 3))]).astype(np.float32)
    table = FeatureTable.single(features)
    speaker = np.array(["a/1"] * 20 + ["a/2"] * 10 + ["b/1"] * 10 + ["b/2"] * 3, dtype=object)
    parts = PlanParts(train={"a": np.arange(0, 30)}, valid={"a": np.arange(0, 0)}, tests={"b": np.arange(30, 43)},
                      unlabeled=None, speaker=speaker)
    norm = fit_normalizer(table, parts, Normalization("speaker", min_speaker_rows=5))
    groups = norm.groups
    assert len({groups[0], groups[20], groups[30]}) == 3  # a/1, a/2, b/1: their own statistics
    corpus_b = Normalizer.fit(features[30:43])  # b/2 (3 rows < 5): corpus b's (the target's own rows)
    np.testing.assert_array_equal(norm.center[groups[40]], corpus_b.mean)
    np.testing.assert_array_equal(norm.scale[groups[40]], corpus_b.std)
    np.testing.assert_array_equal(norm.center[groups[35]], Normalizer.fit(features[30:40]).mean)


def test_targets_not_adapted_use_the_pooled_training_statistics(loader):
    plan = _plan(loader)
    task = loader.indexed(plan, normalization=Normalization("corpus", adapt_target=False))
    norm = task.normalizer
    assert (norm.groups[task.tests["iemocap"]] == norm.pooled).all()
    pooled = Normalizer.fit(loader.table, concat_rows(task.train))
    np.testing.assert_array_equal(norm.center[norm.pooled], pooled.mean)


def test_a_targets_labels_are_never_read(loader):
    """Relabelling the held-out corpus changes its normalisation and the training not at all."""
    manifest, table = loader.manifest, loader.table
    held_out = (manifest["corpus"] == "iemocap").to_numpy()
    relabelled = manifest.copy()
    relabelled.loc[held_out, "label"] = np.random.default_rng(5).permutation(manifest.loc[held_out, "label"].to_numpy())
    other = TaskLoader.from_arrays(relabelled, table.blocks)
    for name in ("corpus", "speaker"):
        normalization = Normalization.parse(name)
        first, second = loader.indexed(_plan(loader), normalization=normalization), other.indexed(
            _plan(other), normalization=normalization)
        np.testing.assert_array_equal(first.normalizer.center, second.normalizer.center)
        np.testing.assert_array_equal(first.normalizer.groups, second.normalizer.groups)
        one, two = Trainer(first, CONFIG).fit(), Trainer(second, CONFIG).fit()
        assert _epochs(one) == _epochs(two)


def test_a_test_only_corpus_changes_nothing_else(loader):
    normalization = Normalization("speaker")
    pool = ["msp-improv", "msp-podcast"]
    without = loader.indexed(_plan(loader, train_corpora=pool), normalization=normalization)
    with_test = loader.indexed(_plan(loader, train_corpora=pool, test_only=["crema-d"]), normalization=normalization)
    rows = np.concatenate([concat_rows(without.train), concat_rows(without.valid), without.tests["iemocap"]])
    np.testing.assert_array_equal(without.features(rows), with_test.features(rows))
    one, two = Trainer(without, CONFIG).fit(), Trainer(with_test, CONFIG).fit()
    assert _epochs(one) == _epochs(two) and one.test_ua == two.test_ua


def test_the_trainer_reads_the_same_rows_as_numpy_bit_for_bit(loader, monkeypatch):
    from distser.learning import _trainer as trainer
    from distser.learning._trainer import _Rows

    task = loader.indexed(_plan(loader), normalization=Normalization.parse("speaker-robust"))
    rows = np.concatenate([task.train["crema-d"][:7], task.tests["iemocap"][:9], task.unlabeled])
    assert len(rows) > 2 * trainer._GROUP_SLICE and len(rows) % trainer._GROUP_SLICE  # slices, the last one short
    np.testing.assert_array_equal(_Rows(task)(rows).numpy(), task.features(rows))
    monkeypatch.setattr(trainer, "_GROUP_SLICE", len(rows) + 1)  # one slice
    np.testing.assert_array_equal(_Rows(task)(rows).numpy(), task.features(rows))


def test_a_row_outside_the_plan_is_an_error(loader):
    plan = loco(loader.manifest, "iemocap", train_corpora=["crema-d", "msp-improv"])  # no msp-podcast rows
    task = loader.indexed(plan, normalization=Normalization("corpus"))
    stray = np.flatnonzero(loader.manifest["corpus"].to_numpy() == "msp-podcast")[:2]
    with pytest.raises(ValueError, match="belong to no normalisation group"):
        task.features(stray)


def test_a_target_alone_is_normalised_as_in_its_plan(loader):
    """What a deployed model does with the clips it is given (distser predict --adapt)."""
    for name in ("corpus", "speaker", "speaker-robust"):
        normalization = Normalization.parse(name)
        task = loader.indexed(_plan(loader), normalization=normalization)
        rows = task.tests["iemocap"]
        alone = normalize_target(loader.table.gather(rows), normalization, loader.speakers[rows])
        np.testing.assert_allclose(alone, task.normalizer.first_stage(loader.table.gather(rows), rows), atol=1e-5)


def test_names_parse_and_refuse_unknown_ones():
    assert Normalization.parse("corpus-robust") == Normalization("corpus", robust=True)
    with pytest.raises(ValueError, match="unknown normalisation 'utterance'"):
        Normalization.parse("utterance")


def test_robust_statistics_ignore_an_outlier():
    from distser.features import statistics

    x = np.ones((21, 2), np.float32)
    x[::2] = 0
    x[0] = 1000.0
    center, scale = statistics(x, robust=True)
    assert center.tolist() == [1.0, 1.0] and np.isfinite(scale).all()


def test_plans_share_one_statistics_table_and_normalise_as_before(loader):
    """A search's plans keep one table of group statistics between them: the same features, every group once."""
    from distser.features import share_statistics

    normalization = Normalization("speaker")
    tasks = [loader.indexed(loco(loader.manifest, holdout, unlabeled="librispeech"), normalization=normalization)
             for holdout in ("iemocap", "crema-d", "msp-improv")]
    shared = share_statistics([t.normalizer for t in tasks])
    assert shared[0].center is shared[1].center is shared[2].center
    assert len(shared[0].center) < sum(len(t.normalizer.center) for t in tasks)  # speakers recur across plans
    for task, normalizer in zip(tasks, shared, strict=True):
        rows = np.concatenate([concat_rows(task.train), concat_rows(task.valid), *task.tests.values(), task.unlabeled])
        x = loader.table.gather(rows)
        np.testing.assert_array_equal(normalizer.apply(x, rows), task.normalizer.apply(x, rows))
        assert (normalizer.groups[rows] >= 0).all()
        pooled = task.normalizer.center[task.normalizer.pooled]
        np.testing.assert_array_equal(normalizer.center[normalizer.pooled], pooled)


@pytest.mark.parametrize("name", ["speaker", "corpus-robust"])
def test_a_loaders_plans_fit_each_group_once_and_the_same_normaliser(synthetic_store, monkeypatch, name):
    """Groups recur across plans (a speaker, a corpus's training rows): fitted once, with the same result."""
    from distser.features import _normalization

    fits = []
    fit = _normalization.statistics
    monkeypatch.setattr(_normalization, "statistics", lambda *a, **k: fits.append(1) or fit(*a, **k))
    normalization = Normalization.parse(name)
    holdouts = ("iemocap", "crema-d", "msp-improv")
    shared = TaskLoader(synthetic_store)  # one loader, one cache, as a search's driver
    tasks = [shared.indexed(loco(shared.manifest, h, unlabeled="librispeech"), normalization=normalization)
             for h in holdouts]
    cached = len(fits)
    fits.clear()
    for holdout, task in zip(holdouts, tasks, strict=True):
        alone = TaskLoader(synthetic_store)  # a loader of its own: nothing cached
        expected = alone.indexed(loco(alone.manifest, holdout, unlabeled="librispeech"), normalization=normalization)
        np.testing.assert_array_equal(task.normalizer.center, expected.normalizer.center)
        np.testing.assert_array_equal(task.normalizer.scale, expected.normalizer.scale)
        np.testing.assert_array_equal(task.normalizer.groups, expected.normalizer.groups)
        np.testing.assert_array_equal(task.normalizer.final.mean, expected.normalizer.final.mean)
    assert cached < len(fits)  # the shared loader fitted fewer groups than three loaders of their own
