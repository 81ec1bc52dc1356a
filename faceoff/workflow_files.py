"""Where the workflow's files are: the Snakefile, ``rules/``, the default ``config/`` and
``workflow/`` (profiles, report captions, schema).

In a checkout they sit beside the ``faceoff`` package (their only copy in git); a wheel carries a copy as
package data in ``faceoff/_workflow/``, made at build time (``setup.py``). The checkout's files win, so an
editable install runs what is being edited.
"""

from __future__ import annotations

from pathlib import Path

from faceoff.errors import FaceOffError

_PACKAGE = Path(__file__).resolve().parent
INSTALLED = _PACKAGE / "_workflow"


def workflow_root() -> Path:
    """The folder that holds the Snakefile: the checkout's, else the installed copy."""
    for root in (_PACKAGE.parent, INSTALLED):
        if (root / "Snakefile").is_file() and (root / "rules").is_dir():
            return root
    raise FaceOffError(
        f"the workflow files are missing: neither {_PACKAGE.parent} (a checkout) nor {INSTALLED} "
        "(an installed wheel) holds the Snakefile; reinstall FaceOff"
    )


def snakefile() -> Path:
    """The workflow's Snakefile."""
    return workflow_root() / "Snakefile"


def profile_path(name: str) -> str:
    """A Snakemake profile for ``--profile``: ``name`` when it is a folder here, else the workflow's own
    (``slurm`` or ``workflow/profiles/slurm``), else ``name`` unchanged (Snakemake then looks in its
    config folders, e.g. ``~/.config/snakemake``)."""
    if Path(name).is_dir():
        return name
    root = workflow_root()
    for candidate in (root / name, root / "workflow" / "profiles" / name):
        if (candidate / "config.yaml").is_file():
            return str(candidate)
    return name
