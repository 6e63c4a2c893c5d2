from __future__ import annotations

import re
from pathlib import Path

import pytest

import distser.corpora as corpora
from distser.corpora import (
    CORPORA,
    EMOTIONS,
    MANIFEST_COLUMNS,
    CorpusError,
    load_corpora,
    load_corpus,
    parse_corpus_spec,
)


def test_registry_names_and_public_api():
    names = ["ravdess", "tess", "savee", "emodb", "librispeech", "crema-d", "iemocap", "msp-improv"]
    assert sorted(CORPORA) == sorted([*names, "msp-podcast", "csv"])
    for name, info in CORPORA.items():
        assert info.name == name and callable(info.load) and info.description
        assert all(e is None or e in EMOTIONS for e in info.labels.values())
        assert info.labeled == (name != "librispeech")
    assert {
        "load_corpus",
        "load_corpora",
        "load_manifest_csv",
        "parse_corpus_spec",
        "CORPORA",
        "CorpusError",
        "EMOTIONS",
        "MANIFEST_COLUMNS",
    } <= set(corpora.__all__)
    assert all(hasattr(corpora, name) for name in corpora.__all__)


def test_default_tables_are_read_only():
    with pytest.raises(TypeError):
        CORPORA["ravdess"].labels["02"] = "neutral"


def test_every_loader_returns_exactly_the_manifest_columns(
    ravdess_root,
    tess_root,
    savee_root,
    emodb_root,
    librispeech_root,
    cremad_root,
    iemocap_root,
    msp_improv_root,
    msp_podcast_root,
    manifest_csv,
):
    roots = {
        "ravdess": ravdess_root,
        "tess": tess_root,
        "savee": savee_root,
        "emodb": emodb_root,
        "librispeech": librispeech_root,
        "crema-d": cremad_root,
        "iemocap": iemocap_root,
        "msp-improv": msp_improv_root,
        "msp-podcast": msp_podcast_root,
        "csv": manifest_csv,
    }
    for name, root in roots.items():
        frame = load_corpus(name, root)
        assert list(frame.columns) == list(MANIFEST_COLUMNS), name
        assert len(frame) > 0 and frame["utterance_id"].is_unique, name
        assert frame["label"].dropna().isin(EMOTIONS).all(), name
        assert frame["utterance_id"].is_monotonic_increasing, name


def test_unknown_corpus_name():
    with pytest.raises(CorpusError, match=r"unknown corpus 'nope'; registered: \['crema-d'"):
        load_corpus("nope", ".")


def test_name_is_case_insensitive(emodb_root):
    assert len(load_corpus("EmoDB", emodb_root)) == 4


def test_missing_corpus_folder_names_corpus_and_path(tmp_path):
    missing = tmp_path / "not-here"
    with pytest.raises(CorpusError, match=f"ravdess: corpus folder {re.escape(str(missing))} does not exist"):
        load_corpus("ravdess", missing)


def test_root_that_is_a_file(manifest_csv):
    with pytest.raises(
        CorpusError, match=f"tess: corpus folder {re.escape(str(manifest_csv))} is not a folder"
    ):
        load_corpus("tess", manifest_csv)


def test_empty_corpus_names_the_folder(tmp_path):
    (tmp_path / "emodb" / "wav").mkdir(parents=True)
    with pytest.raises(CorpusError, match=r"emodb: no audio files \(.wav, .flac\) found under .*emodb/wav"):
        load_corpus("emodb", tmp_path / "emodb")


def test_bad_options(emodb_root):
    with pytest.raises(ValueError, match="on_unknown must be one of"):
        load_corpus("emodb", emodb_root, on_unknown="ignore")
    with pytest.raises(ValueError, match=r"label_map\['L'\] = 'bored' is not one of"):
        load_corpus("emodb", emodb_root, label_map={"L": "bored"})


def test_parse_corpus_spec():
    spec = "ravdess=../shared/corpora/ravdess"
    assert parse_corpus_spec(spec) == ("ravdess", Path("../shared/corpora/ravdess"))
    assert parse_corpus_spec(" CREMA-D = /data/cremad ")[0] == "crema-d"
    for bad in ["ravdess", "=x", "ravdess="]:
        with pytest.raises(CorpusError, match="is not NAME=PATH"):
            parse_corpus_spec(bad)
    with pytest.raises(CorpusError, match="unknown corpus 'foo'"):
        parse_corpus_spec("foo=bar")


def test_load_corpora_concatenates(emodb_root, savee_root, librispeech_root):
    frame = load_corpora([f"emodb={emodb_root}", ("savee", savee_root), ("librispeech", librispeech_root)])
    assert list(frame.columns) == list(MANIFEST_COLUMNS)
    assert frame["corpus"].value_counts().to_dict() == {"librispeech": 5, "emodb": 4, "savee": 4}
    assert frame["utterance_id"].is_monotonic_increasing and frame.index.tolist() == list(range(13))
    with pytest.raises(CorpusError, match="occurs twice"):
        load_corpora([f"emodb={emodb_root}", f"emodb={emodb_root}"])
    with pytest.raises(ValueError, match="at least one"):
        load_corpora([])
