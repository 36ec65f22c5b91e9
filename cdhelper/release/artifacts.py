"""A released artifact back from its GitHub Release, byte for byte, never a rebuild.

With `tag.release: true` the release step publishes every file of the artifact as an asset of the
release of its tag (`a/b` as `a__b`, tagging.check_release_assets). A rollback, automatic or by hand
after the workflow artifact expired, gets the files from there: each one where the tag records it,
verified against the tag's sha256, and the whole against the tag's manifest digest.

What the tag says is what counts: file names come from `candidate.files` (the asset names are
computed from them, never parsed back from `__`), and a file the tag records that the release lacks,
or whose bytes differ, fails the fetch. Nothing is written outside `dest` but a temporary directory
beside it, which becomes `dest` only when every file is verified and is removed on any failure.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from cdhelper.core.digests import file_digest, manifest_digest
from cdhelper.core.errors import EvidenceError, InputError, NotFoundError
from cdhelper.github.client import GitHubClient

from .tagging import Candidate, check_release_assets

NO_RELEASE_FIX = ("the workflow artifact expired and no release holds it: set tag.release: true so rollbacks never "
                  "depend on workflow artifacts (in .github/cd.yml; it applies to versions released from then on); "
                  "for this version, pass the artifact's files (artifact-path) if you still have them")


def fetch(client: GitHubClient, candidate: Candidate, dest: Path) -> Path:
    """The files of `candidate` from the release of its tag, verified, under `dest` (which must not
    exist or be an empty directory); returns `dest`. Requests: one for the release, one per file
    (none for a candidate of images only, whose `dest` stays empty)."""
    dest = Path(dest)
    _check_dest(dest)
    _check_paths(candidate)
    digests = dict(candidate.files)
    if manifest_digest(candidate.files, candidate.images) != candidate.manifest:
        raise EvidenceError(f"tag {candidate.tag} does not add up", f"the files and images it lists give another digest "
                            f"than the {candidate.manifest} it records", "the tag was not written by cdhelper's release "
                            "step or was altered: redeploy from a verified source, never from this tag")
    if not candidate.files:  # images only: they are in their registry, nothing to fetch
        dest.mkdir(parents=True, exist_ok=True)
        return dest
    try:
        names = check_release_assets(path for path, _ in candidate.files)
    except InputError as err:
        raise NotFoundError(f"the files of {candidate.tag} cannot be in its release", err.why,
                            "deploy this version from its workflow artifact (artifact-path)") from None
    release = client.get_release(candidate.tag)
    if release is None:
        raise NotFoundError(f"release {candidate.tag} was not found", f"the files of {candidate.version} are "
                            "needed and GitHub has no release for its tag", NO_RELEASE_FIX)
    assets = {a.get("name"): a for a in release.get("assets") or []}
    plan = []
    for path, name in names:
        asset = assets.get(name)
        if asset is None:
            raise NotFoundError(f"release {candidate.tag} lacks asset {name!r} (file {path!r})",
                                f"the tag records {len(names)} file(s) and the release does not hold this one (deleted, "
                                "or the release step stopped before uploading it)",
                                "re-run the release job of this version (it uploads only what is missing), or deploy "
                                "from its workflow artifact")
        want = f"sha256:{digests[path]}"
        if asset.get("digest") not in (None, want):
            raise _mismatch(candidate, path, name, str(asset.get("digest")), want, "GitHub records")
        plan.append((path, name, int(asset["id"])))
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        measured = []
        for path, name, asset_id in plan:
            target = partial.joinpath(*path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_asset(asset_id, target)
            got = file_digest(target)
            if got != digests[path]:
                raise _mismatch(candidate, path, name, f"sha256:{got}", f"sha256:{digests[path]}", "its download has")
            measured.append((path, got))
        got = manifest_digest(tuple(sorted(measured)), candidate.images)
        if got != candidate.manifest:  # cannot differ once every file matched; checked as the contract says
            raise EvidenceError(f"the files of {candidate.tag} do not add up", f"they give {got}, the tag records "
                                f"{candidate.manifest}", "do not deploy them; report this as a cdhelper bug")
        _install(partial, dest)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, OSError):
            raise InputError(f"the files of {candidate.tag} could not be written under {str(dest)!r}",
                             exc.strerror or str(exc), "free disk space or fix the directory's permissions, then "
                             "re-run") from None
        raise
    return dest


def _check_dest(dest: Path) -> None:
    try:
        info = dest.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode) and _empty(dest):
        return
    kind = ("a link" if stat.S_ISLNK(info.st_mode) else "a directory that is not empty" if stat.S_ISDIR(info.st_mode)
            else "a file")
    raise InputError(f"{str(dest)!r} is {kind}", "the artifact is fetched into a new or empty directory, so nothing "
                     "else can pass for one of its files", "give a directory that does not exist yet, or an empty one")


def _check_paths(candidate: Candidate) -> None:
    """The tag's paths must stay inside `dest`: relative, no `.`, `..` or empty parts."""
    for path, _ in candidate.files:
        parts = path.split("/")
        if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
            raise EvidenceError(f"tag {candidate.tag} records the file path {path!r}",
                                "it would be written outside the artifact's directory, and cdhelper never records "
                                "such paths", "redeploy from a verified source, never from this tag")


def _mismatch(candidate: Candidate, path: str, name: str, got: str, want: str, where: str) -> EvidenceError:
    return EvidenceError(f"file {path!r} of {candidate.tag} does not match its release asset {name!r}",
                         f"the tag records {want}, {where} {got}: the asset was replaced or altered",
                         "do not deploy it: find out who changed the release; redeploy from the workflow artifact "
                         "or rebuild under a new version")


def _install(partial: Path, dest: Path) -> None:
    """Renames the verified directory into place (replacing an empty `dest` directory)."""
    try:
        os.replace(partial, dest)
    except OSError:
        if not dest.is_dir() or not _empty(dest):
            raise
        dest.rmdir()
        os.replace(partial, dest)


def _empty(directory: Path) -> bool:
    with os.scandir(directory) as entries:
        return next(entries, None) is None
