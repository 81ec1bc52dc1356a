"""Input resolution: folders, globs, sample sheets; ids unique and path-safe."""

import csv
import re

import pytest

from faceoff.config import validate_config
from faceoff.errors import ConfigError
from faceoff.samples import pseudonym, pseudonymize_samples, resolve_samples


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_folder_recursive_and_extensions(tmp_path):
    _touch(tmp_path / "v" / "a.mp4")
    _touch(tmp_path / "v" / "sub" / "b.MOV")
    _touch(tmp_path / "v" / "notes.txt")
    cfg = validate_config({"inputs": [str(tmp_path / "v")], "results": str(tmp_path / "r")})
    assert list(resolve_samples(cfg)) == ["a", "b"]


def test_glob_and_missing_folder(tmp_path):
    _touch(tmp_path / "c 1.mkv")
    cfg = validate_config({"inputs": [str(tmp_path / "*.mkv")]})
    assert resolve_samples(cfg) == {"c 1": str(tmp_path / "c 1.mkv")}
    with pytest.raises(ConfigError, match="no such folder"):
        resolve_samples(validate_config({"inputs": [str(tmp_path / "missing")]}))
    with pytest.raises(ConfigError, match="matches no file"):
        resolve_samples(validate_config({"inputs": [str(tmp_path / "*.avi")]}))


def test_duplicate_stems_are_an_error(tmp_path):
    _touch(tmp_path / "x" / "same.mp4")
    _touch(tmp_path / "y" / "same.mp4")
    cfg = validate_config({"inputs": [str(tmp_path / "x"), str(tmp_path / "y")]})
    with pytest.raises(ConfigError, match="duplicate video id 'same'"):
        resolve_samples(cfg)


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", "..", ".hidden", "-rf"])
def test_sample_sheet_rejects_unsafe_ids(tmp_path, bad_id):
    video = _touch(tmp_path / "v.mp4")
    sheet = tmp_path / "s.tsv"
    sheet.write_text(f"id\tpath\n{bad_id}\t{video}\n")
    with pytest.raises(ConfigError, match="line 2"):
        resolve_samples(validate_config({"samples": str(sheet)}))


def test_sample_sheet_duplicates_and_columns(tmp_path):
    video = _touch(tmp_path / "v.mp4")
    sheet = tmp_path / "s.tsv"
    sheet.write_text(f"id\tpath\nok\t{video}\nok\t{video}\n")
    with pytest.raises(ConfigError, match="line 3: duplicate"):
        resolve_samples(validate_config({"samples": str(sheet)}))
    sheet.write_text(f"name\tfile\nok\t{video}\n")
    with pytest.raises(ConfigError, match="columns 'id' and 'path'"):
        resolve_samples(validate_config({"samples": str(sheet)}))
    sheet.write_text(f"id\tpath\nünï cødé\t{video}\n")
    assert list(resolve_samples(validate_config({"samples": str(sheet)}))) == ["ünï cødé"]


def test_inputs_inside_results_rejected(tmp_path):
    _touch(tmp_path / "results" / "anonymized" / "a.mp4")
    cfg = validate_config({"inputs": [str(tmp_path / "results")], "results": str(tmp_path / "results")})
    with pytest.raises(ConfigError, match="inside the results folder"):
        resolve_samples(cfg)


def test_pseudonyms_are_keyed_stable_and_mapped(tmp_path):
    key = tmp_path / "key"
    key.write_bytes(b"k1\n")
    samples = {"Smith_John_2024-03-01": "/a/Smith_John_2024-03-01.mp4", "b": "/a/b.mp4"}
    renamed = pseudonymize_samples(samples, str(key), str(tmp_path / "map.tsv"))
    assert set(renamed.values()) == set(samples.values())
    assert not any("Smith" in p for p in renamed)
    assert pseudonym("b", b"k1") in renamed and pseudonym("b", b"k1") != pseudonym("b", b"k2")
    with open(tmp_path / "map.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert {(r["id"], r["pseudonym"], r["path"]) for r in rows} == {
        (i, pseudonym(i, b"k1"), p) for i, p in samples.items()
    }


def test_numeric_extension_from_yaml(tmp_path):
    """`extensions: [264]` in YAML is a number: it is taken as the extension it spells."""
    _touch(tmp_path / "v" / "cam1.264")
    _touch(tmp_path / "v" / "cam2.mp4")
    cfg = validate_config({"inputs": [str(tmp_path / "v")], "extensions": [264]})
    assert cfg.extensions == ["264"]
    assert list(resolve_samples(cfg)) == ["cam1"]


@pytest.mark.parametrize(
    ("name", "held"),
    [("{2024}/or1.mp4", "{2024}"), ("case {1}.mp4", "{1}"), ("{n,[0-9]+}.mp4", "{n")],
    ids=["folder", "file", "constraint"],
)
def test_names_snakemake_reads_as_wildcards_are_refused_clearly(tmp_path, name, held):
    """Snakemake has no escape for '{name}' in a path: such an input is named at load, with what to do,
    instead of a WildcardError about the whole workflow; braces it does not read ('{3F25-04E0}', a GUID
    folder) are fine."""
    _touch(tmp_path / "v" / name)
    with pytest.raises(ConfigError, match=re.escape(f"holds '{held}'") + ".*rename it"):
        resolve_samples(validate_config({"inputs": [str(tmp_path / "v")]}))
    _touch(tmp_path / "g" / "{3F2504E0-4F89-11D3}" / "or2.mp4")
    assert list(resolve_samples(validate_config({"inputs": [str(tmp_path / "g")]}))) == ["or2"]
    with pytest.raises(ConfigError, match="the results folder"):
        resolve_samples(validate_config({"inputs": [str(tmp_path / "g")], "results": "out/{x}"}))
