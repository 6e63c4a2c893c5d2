"""Protocols: deterministic, disjoint by speaker (TESS: by word), shaped like the paper's §3.2."""

import numpy as np
import pandas as pd
import pytest

from distser.corpora import load_corpus
from distser.corpora._schema import make_manifest
from distser.features import synthetic_manifest_and_features
from distser.protocols import check_disjoint, labelled_corpora, loco, pool, within_corpus


@pytest.fixture(scope="module")
def paper_manifest():
    return synthetic_manifest_and_features(scale=0.05)[0]


def _public_like():
    rows = []
    for corpus, speakers in (("ravdess", 24), ("savee", 4), ("emodb", 10)):
        for s in range(speakers):
            for k in range(8):
                rows.append({"utterance_id": f"{corpus}/{s}-{k}", "path": "x", "corpus": corpus,
                             "speaker": f"{corpus}/{s}", "label": ("neutral", "happy", "sad", "angry")[k % 4],
                             "text": f"t{k}"})
    for spk in ("OAF", "YAF"):
        for w in range(200):
            rows.append({"utterance_id": f"tess/{spk}-{w}", "path": "x", "corpus": "tess", "speaker": f"tess/{spk}",
                         "label": ("neutral", "happy", "sad", "angry")[w % 4], "text": f"word{w}"})
    return pd.concat([make_manifest([r for r in rows if r["corpus"] == c], c) for c in ("ravdess", "savee",
                                                                                       "emodb", "tess")])


def test_loco_paper_corpora_follow_section_3_2(paper_manifest):
    plan = loco(paper_manifest, "msp-podcast", unlabeled="librispeech")
    by_id = paper_manifest.set_index("utterance_id")
    assert set(by_id.loc[plan.train["iemocap"], "session"]) == {"Session1", "Session2", "Session3", "Session4"}
    assert set(by_id.loc[plan.valid["iemocap"], "session"]) == {"Session5"}
    assert set(by_id.loc[plan.valid["msp-improv"], "session"]) == {"Session6"}
    assert set(by_id.loc[plan.test, "split"]) == {"test"}  # MSP-Podcast held out: its test set only
    crema_valid = by_id.loc[plan.valid["crema-d"], "speaker"].nunique()
    crema_all = paper_manifest.loc[paper_manifest.corpus == "crema-d", "speaker"].nunique()
    assert crema_valid == round(crema_all * 33 / 91)
    other = loco(paper_manifest, "iemocap", unlabeled="librispeech")
    assert set(by_id.loc[other.train["msp-podcast"], "split"]) == {"train"}
    assert set(by_id.loc[other.valid["msp-podcast"], "split"]) == {"validation"}
    assert len(other.test) == (paper_manifest.corpus == "iemocap").sum()  # held out whole
    assert len(other.unlabeled) == (paper_manifest.corpus == "librispeech").sum()


@pytest.mark.parametrize("holdout", ["crema-d", "iemocap", "msp-improv", "msp-podcast"])
def test_loco_is_disjoint_and_deterministic(paper_manifest, holdout):
    plan = loco(paper_manifest, holdout)
    check_disjoint(plan, paper_manifest)
    again = loco(paper_manifest.sample(frac=1, random_state=1), holdout)  # row order must not matter
    for corpus in plan.corpora:
        assert sorted(plan.train[corpus]) == sorted(again.train[corpus])


@pytest.mark.parametrize(("corpus", "folds"), [("crema-d", 10), ("iemocap", 10), ("msp-improv", 12),
                                               ("msp-podcast", 1)])
def test_within_corpus_folds(paper_manifest, corpus, folds):
    plans = within_corpus(paper_manifest, corpus)
    assert len(plans) == folds
    for plan in plans:
        check_disjoint(plan, paper_manifest)
    if corpus == "iemocap":  # leave-one-speaker-out, validating on the test speaker's session partner
        by_id = paper_manifest.set_index("utterance_id")
        for plan in plans:
            assert by_id.loc[plan.test, "speaker"].nunique() == 1
            assert set(by_id.loc[plan.valid["iemocap"], "session"]) == set(by_id.loc[plan.test, "session"])
            assert by_id.loc[plan.train["iemocap"], "speaker"].nunique() == 8


def test_public_corpora_split_by_speaker_and_tess_by_word():
    manifest = _public_like()
    for holdout in labelled_corpora(manifest):
        check_disjoint(loco(manifest, holdout), manifest)
        for plan in within_corpus(manifest, holdout):
            check_disjoint(plan, manifest)
    plan = loco(manifest, "emodb")
    by_id = manifest.set_index("utterance_id")
    train_words = set(by_id.loc[plan.train["tess"], "text"])
    assert not train_words & set(by_id.loc[plan.valid["tess"], "text"])
    assert set(by_id.loc[plan.valid["tess"], "speaker"]) == {"tess/OAF", "tess/YAF"}  # both speakers, other words


def test_check_disjoint_catches_a_leak(paper_manifest):
    plan = loco(paper_manifest, "iemocap")
    leaked = dict(plan.valid, **{"crema-d": np.concatenate([plan.valid["crema-d"], plan.train["crema-d"][:1]])})
    with pytest.raises(AssertionError, match="in both train and validation"):
        check_disjoint(type(plan)(**{**plan.__dict__, "valid": leaked}), paper_manifest)


@pytest.mark.parametrize(("make", "role"), [
    (lambda m: loco(m, "crema-d", unlabeled="crema-d"), "the held-out corpus"),
    (lambda m: loco(m, "crema-d", unlabeled="iemocap", test_only=["iemocap"]), "a test-only corpus"),
    (lambda m: loco(m, "crema-d", unlabeled="iemocap"), "a training corpus"),
    (lambda m: pool(m, ["crema-d", "iemocap"], unlabeled="msp-podcast", test_only=["msp-podcast"]),
     "a test-only corpus"),
    (lambda m: pool(m, ["crema-d", "iemocap"], unlabeled="iemocap"), "a training corpus"),
    (lambda m: within_corpus(m, "iemocap", unlabeled="iemocap"), "the held-out corpus"),
])
def test_the_unlabeled_corpus_is_never_one_a_plan_trains_or_tests_on(paper_manifest, make, role):
    # Its labels are never read, but its audio enters every step of the unlabeled terms.
    with pytest.raises(ValueError, match=f"unlabeled corpus '.*' is also {role}"):
        make(paper_manifest)


def test_check_disjoint_covers_the_unlabeled_rows(paper_manifest):
    plan = loco(paper_manifest, "iemocap", unlabeled="librispeech")
    check_disjoint(plan, paper_manifest)
    tested = type(plan)(**{**plan.__dict__, "unlabeled_corpus": "iemocap", "unlabeled": plan.test})
    with pytest.raises(AssertionError, match="unlabeled corpus 'iemocap' is also the held-out corpus"):
        check_disjoint(tested, paper_manifest)
    mixed = type(plan)(**{**plan.__dict__, "unlabeled": np.concatenate([plan.unlabeled, plan.train["crema-d"][:2]])})
    with pytest.raises(AssertionError, match="is also trained or tested on"):
        check_disjoint(mixed, paper_manifest)


def test_errors_name_the_culprit(paper_manifest):
    with pytest.raises(ValueError, match="'nope'.*labelled corpora: crema-d"):
        loco(paper_manifest, "nope")
    with pytest.raises(ValueError, match="unlabeled corpus 'libri'"):
        loco(paper_manifest, "iemocap", unlabeled="libri")


@pytest.mark.corpora
def test_real_public_corpora_are_disjoint(shared_corpora):
    manifest = pd.concat([load_corpus(c, shared_corpora / c) for c in ("ravdess", "tess", "savee", "emodb")])
    for holdout in ("ravdess", "tess", "savee", "emodb"):
        check_disjoint(loco(manifest, holdout), manifest)
        for plan in within_corpus(manifest, holdout):
            check_disjoint(plan, manifest)


def test_a_plan_lists_an_utterance_stored_twice_once(paper_manifest):
    # A manifest read from every shard of a store that re-extracted a corpus holds its rows twice.
    twice = pd.concat([paper_manifest, paper_manifest[paper_manifest.corpus == "crema-d"]], ignore_index=True)
    plan, once = loco(twice, "iemocap", unlabeled="librispeech"), loco(paper_manifest, "iemocap",
                                                                       unlabeled="librispeech")
    for part in ("train", "valid"):
        for corpus, ids in getattr(plan, part).items():
            np.testing.assert_array_equal(ids, getattr(once, part)[corpus])
    np.testing.assert_array_equal(loco(twice, "crema-d").test, loco(paper_manifest, "crema-d").test)
