"""Turn the config's ``inputs`` or ``samples`` into a mapping of video id -> path.

A video id is the file stem (or the sample sheet's ``id``). Ids become file names under the results
folder, so they must be unique and path-safe; anything else is a clear :class:`ConfigError`.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import hmac
import os
import re
from pathlib import Path

from faceoff.atomic import atomic_output
from faceoff.config import Config
from faceoff.errors import ConfigError

_GLOB_CHARS = re.compile(r"[*?\[]")
_BAD_ID = re.compile(r"[/\\\x00-\x1f]")
# what Snakemake reads as a wildcard in any path it is given (``{name}`` or ``{name,regex}``): it has no
# escape for it, so such a path cannot be a workflow input or output
_WILDCARD = re.compile(r"\{\s*[.\w]+\s*[,}]")


def check_no_wildcard(text: str, what: str, origin: str) -> str:
    """Return ``text`` unless Snakemake would read part of it as a wildcard; else raise naming ``origin``."""
    m = _WILDCARD.search(text)
    if m:
        raise ConfigError(
            f"{origin}: {what} {text!r} holds '{m.group(0).rstrip(',')}', which Snakemake reads as a "
            "wildcard (it has no escape for it): rename it, or link the video under a name without braces"
        )
    return text


def check_id(video_id: str, origin: str) -> str:
    """Return ``video_id`` if it is safe as a file name, else raise naming ``origin``."""
    if not video_id or video_id in {".", ".."} or ".." in video_id or _BAD_ID.search(video_id):
        raise ConfigError(
            f"{origin}: video id {video_id!r} is not path-safe (no '..', separators or control chars)"
        )
    if video_id.startswith(("-", ".")):
        raise ConfigError(f"{origin}: video id {video_id!r} must not start with '-' or '.'")
    return video_id


def _add(found: dict[str, str], video_id: str, path: Path, origin: str) -> None:
    check_no_wildcard(check_id(video_id, origin), "video id", origin)
    resolved = check_no_wildcard(str(path), "the path", origin)
    if video_id in found and found[video_id] != resolved:
        raise ConfigError(
            f"{origin}: duplicate video id {video_id!r} for {found[video_id]!r} and {resolved!r}; "
            "rename one or use a `samples` sheet with explicit ids"
        )
    found[video_id] = resolved


# Folders of the results that hold video files (each possibly sharded): an input must not reach them.
_VIDEO_FOLDERS = ("anonymized", "render")


def _glob_folders(pattern: str) -> re.Pattern:
    """A regex of the absolute folders in which ``pattern`` (a glob, ``**`` recursive) matches files."""
    out = ""
    for part in Path(os.path.abspath(pattern)).parent.parts[1:]:
        if part == "**":
            out += "(?:/[^/]+)*"
            continue
        out += "/"
        i = 0
        while i < len(part):
            c = part[i]
            close = part.find("]", i + 2) if c == "[" else -1
            if c == "*":
                out += "[^/]*"
            elif c == "?":
                out += "[^/]"
            elif close > 0:
                body = part[i + 1 : close]
                out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
                i = close
            else:
                out += re.escape(c)
            i += 1
    return re.compile(out or "/")


def _check_results_outside(entry: str, results: str, origin: str) -> None:
    """Raise when the results folder lies in the tree that input ``entry`` (folder or glob) searches:
    its delivered videos would become inputs of the next run."""
    inside = False
    if _GLOB_CHARS.search(entry):
        top = os.path.abspath(results)
        folders = [os.path.join(top, f, s) for f in _VIDEO_FOLDERS for s in ("", "00")]
        inside = any(_glob_folders(entry).fullmatch(f.rstrip("/")) for f in folders)
    elif Path(entry).is_dir():
        root, res = Path(entry).resolve(), Path(results).resolve()
        inside = root in res.parents  # the same folder: the inputs lie inside the results (below)
    if inside:
        raise ConfigError(
            f"{origin}: the results folder {results!r} lies inside this input, so its delivered videos "
            "would become inputs; choose a results folder outside it"
        )


def _from_inputs(cfg: Config, each_input: bool) -> dict[str, str]:
    exts = {e.lower().lstrip(".") for e in cfg.extensions}
    found: dict[str, str] = {}
    for i, entry in enumerate(cfg.inputs):
        origin = f"inputs[{i}] ({entry})"
        _check_results_outside(entry, cfg.results, origin)
        if _GLOB_CHARS.search(entry):
            paths = [Path(p) for p in sorted(glob.glob(entry, recursive=True)) if Path(p).is_file()]
            if not paths:
                raise ConfigError(f"{origin}: the pattern matches no file")
        else:
            root = Path(entry)
            if root.is_file():
                paths = [root]
            elif root.is_dir():
                paths = sorted(
                    p for p in root.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".") in exts
                )
            else:
                raise ConfigError(f"{origin}: no such folder or file")
        if each_input and not paths:
            raise ConfigError(
                f"{origin}: the folder holds no video (extensions: {', '.join(cfg.extensions)})"
            )
        for p in paths:
            _add(found, p.stem, p, origin)
    return found


def _from_sheet(sheet: str) -> dict[str, str]:
    found: dict[str, str] = {}
    with open(sheet, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        if not reader.fieldnames or not {"id", "path"} <= set(reader.fieldnames):
            raise ConfigError(f"samples ({sheet}): needs tab-separated columns 'id' and 'path'")
        for line, row in enumerate(reader, start=2):
            origin = f"samples ({sheet}) line {line}"
            video_id, path = (row["id"] or "").strip(), (row["path"] or "").strip()
            if video_id in found:
                raise ConfigError(f"{origin}: duplicate video id {video_id!r}")
            if not path:
                raise ConfigError(f"{origin}: empty path")
            _add(found, video_id, Path(path), origin)
    return found


def resolve_samples(cfg: Config, each_input: bool = False) -> dict[str, str]:
    """Video id -> path for every input video, in a stable order.

    An input folder or glob must not reach into the results folder (nor the results into an input);
    with ``each_input`` (``faceoff run``) every input folder must hold a video, not only one of them."""
    check_no_wildcard(cfg.results, "the results folder", "results")
    found = _from_sheet(cfg.samples) if cfg.samples else _from_inputs(cfg, each_input)
    if not found:
        raise ConfigError("no input videos found: check `inputs` and `extensions`")
    results = Path(cfg.results).resolve()
    for video_id, path in found.items():
        if results in Path(path).resolve().parents:
            raise ConfigError(f"{path}: input {video_id!r} lies inside the results folder {cfg.results!r}")
    return dict(sorted(found.items()))


def pseudonym(video_id: str, key: bytes) -> str:
    """A stable, keyed, path-safe pseudonym of ``video_id`` (HMAC-SHA256, 16 hex digits)."""
    return "v" + hmac.new(key, video_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def workflow_samples(cfg: Config, write_mapping: bool = False, each_input: bool = False) -> dict[str, str]:
    """The workflow's video id -> path: :func:`resolve_samples`, renamed to pseudonyms when
    ``pseudonymize`` is on (and the mapping table written when ``write_mapping``: the workflow does, once,
    when it loads; commands that only need the ids do not)."""
    samples = resolve_samples(cfg, each_input)
    if not cfg.pseudonymize.enabled:
        return samples
    mapping = cfg.pseudonymize.mapping if write_mapping else None
    return pseudonymize_samples(samples, cfg.pseudonymize.key_file, mapping)


def pseudonymize_samples(samples: dict[str, str], key_file: str, mapping: str | None) -> dict[str, str]:
    """Rename ``samples`` to pseudonyms and write the ``id -> pseudonym -> path`` table to ``mapping``
    (unless None)."""
    key = Path(key_file).read_bytes().strip()
    renamed = {pseudonym(video_id, key): (video_id, path) for video_id, path in samples.items()}
    if len(renamed) != len(samples):
        raise ConfigError("pseudonymize: two ids map to the same pseudonym; use a different key")
    if mapping is not None:
        with atomic_output(mapping) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
            writer.writerow(["id", "pseudonym", "path"])
            for pseudo, (video_id, path) in sorted(renamed.items(), key=lambda kv: kv[1][0]):
                writer.writerow([video_id, pseudo, path])
    return {pseudo: path for pseudo, (_, path) in sorted(renamed.items())}
