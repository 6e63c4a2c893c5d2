"""The loaders against the real public corpora (``$DISTSER_CORPORA``, else ``<project>/../shared/corpora``).

Expected numbers are the table of ``../shared/corpora/README.md``; LibriSpeech's were counted on
disk (251 files in train-clean-100, one per reader, + 10 readers x 10 files in test-other).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from distser.corpora import MANIFEST_COLUMNS, load_corpora, load_corpus

pytestmark = pytest.mark.corpora  # the shared_corpora fixture skips, naming the folder, without them

#: corpus -> ({emotion: count}, speakers), from ../shared/corpora/README.md.
EXPECTED = {
    "ravdess": ({"neutral": 96, "happy": 192, "sad": 192, "angry": 192}, 24),
    "tess": ({"neutral": 400, "happy": 400, "sad": 400, "angry": 400}, 2),
    "savee": ({"neutral": 120, "happy": 60, "sad": 60, "angry": 60}, 4),
    "emodb": ({"neutral": 79, "happy": 71, "sad": 62, "angry": 127}, 10),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_and_speaker_counts_match_the_readme(name, shared_corpora):
    counts, speakers = EXPECTED[name]
    frame = load_corpus(name, shared_corpora / name)
    assert list(frame.columns) == list(MANIFEST_COLUMNS)
    assert frame["label"].value_counts().to_dict() == counts
    assert frame["speaker"].nunique() == speakers
    assert frame["gender"].notna().all()
    assert Path(frame.loc[0, "path"]).is_file()


def test_gender_balance_where_documented(shared_corpora):
    ravdess = load_corpus("ravdess", shared_corpora / "ravdess")
    assert ravdess.groupby("gender")["speaker"].nunique().to_dict() == {"F": 12, "M": 12}
    emodb = load_corpus("emodb", shared_corpora / "emodb")
    assert emodb.groupby("gender")["speaker"].nunique().to_dict() == {"F": 5, "M": 5}


def test_librispeech_sample_is_unlabeled(shared_corpora):
    frame = load_corpus("librispeech", shared_corpora / "librispeech")
    assert len(frame) == 351 and frame["label"].isna().all()
    assert frame["speaker"].nunique() == 261  # the README's "251 + 10" readers
    assert frame["split"].value_counts().to_dict() == {"train-clean-100": 251, "test-other": 100}
    assert frame["gender"].notna().all()  # every reader is in its subset's SPEAKERS.TXT


def test_all_public_corpora_together(shared_corpora):
    frame = load_corpora([f"{name}={shared_corpora / name}" for name in [*EXPECTED, "librispeech"]])
    assert len(frame) == 672 + 1600 + 300 + 339 + 351
