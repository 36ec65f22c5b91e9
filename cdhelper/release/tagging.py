"""Immutable tags: an annotated tag on the built commit whose message carries the version and
digests in machine-readable `cdhelper-*` lines. Re-tagging the same commit and digest is a no-op;
a tag that exists with other content is refused."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from cdhelper.core.digests import Artifact, manifest_digest
from cdhelper.core.errors import ConflictError, InputError
from cdhelper.deploy.records import read_ledger
from cdhelper.github.client import ApiFailure, GitHubClient, OutcomeUnknown

SHA = re.compile(r"^[0-9a-f]{40}$")
FILE_LINE = re.compile(r"sha256:(?P<digest>[0-9a-f]{64}) (?P<path>.+)", re.DOTALL)
# What GitHub keeps as is in a release asset name; it renames other characters and a leading or
# trailing period ("Upload a release asset" in the REST docs), which would hide which file is which.
ASSET_NAME = re.compile(r"[A-Za-z0-9_.-]+", re.ASCII)


@dataclass(frozen=True)
class Candidate:
    """A release candidate as recorded in its tag."""

    version: str
    tag: str
    commit: str
    manifest: str
    files: tuple[tuple[str, str], ...] = ()
    images: tuple[str, ...] = ()

    def message(self) -> str:
        lines = [f"Release candidate {self.version}", "", f"cdhelper-version: {self.version}",
                 f"cdhelper-commit: {self.commit}", f"cdhelper-manifest: {self.manifest}"]
        lines += [f"cdhelper-file: sha256:{digest} {path}" for path, digest in self.files]
        lines += [f"cdhelper-image: {image}" for image in self.images]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_message(cls, tag: str, message: str) -> Candidate | None:
        """The candidate a tag message records; None if it records none, or records it ambiguously.
        Values are taken exactly as written (a path may begin or end with a blank). A key repeated
        with the same value is harmless; repeated with another value, or a file line that does not
        parse, the message cannot be trusted to say what was released."""
        fields: dict[str, list[str]] = {}
        for line in message.split("\n"):  # not splitlines(): it also splits at \x1c, \x85, U+2028...
            key, sep, value = line.partition(": ")
            if sep and key.startswith("cdhelper-"):
                values = fields.setdefault(key, [])
                if value not in values:
                    values.append(value)
        if any(len(fields.get(key, ())) != 1 for key in ("cdhelper-version", "cdhelper-commit", "cdhelper-manifest")):
            return None
        files: dict[str, str] = {}
        for value in fields.get("cdhelper-file", []):
            m = FILE_LINE.fullmatch(value)
            if not m or files.setdefault(m["path"], m["digest"]) != m["digest"]:
                return None
        return cls(version=fields["cdhelper-version"][0], tag=tag, commit=fields["cdhelper-commit"][0],
                   manifest=fields["cdhelper-manifest"][0], files=tuple(sorted(files.items())),
                   images=tuple(sorted(fields.get("cdhelper-image", []))))


@dataclass(frozen=True)
class TagResult:
    candidate: Candidate
    created: bool  # False: the same tag already existed (idempotent re-run)


def tag_name(prefix: str, version: str) -> str:
    return f"{prefix}{version}"


def make_candidate(version: str, prefix: str, commit: str, artifact: Artifact) -> Candidate:
    if not SHA.match(commit or ""):
        raise InputError(f"commit {commit!r} is not a full 40-character sha", "tags are placed on an exact commit",
                         "pass the built commit (GITHUB_SHA inside Actions)")
    return Candidate(version=version, tag=tag_name(prefix, version), commit=commit,
                     manifest=manifest_digest(artifact.files, artifact.images), files=artifact.files,
                     images=artifact.images)


def read_candidate(client: GitHubClient, tag: str) -> Candidate | None | str:
    """The candidate a tag records; None if no such tag; the commit sha if it is not a cdhelper tag."""
    ref = client.get_ref(f"tags/{tag}")
    if ref is None:
        return None
    if ref["type"] != "tag":
        return ref["sha"]
    obj = client.get_tag_object(ref["sha"])
    return Candidate.from_message(tag, obj["message"]) or obj["object_sha"]


def create_tag(client: GitHubClient, candidate: Candidate) -> TagResult:
    """Two requests when the tag is new; the existing tag is read back only when GitHub says it exists."""
    try:
        tag_sha = client.create_tag_object(candidate.tag, candidate.message(), candidate.commit)
    except ApiFailure as failure:
        raise InputError(f"commit {candidate.commit} cannot be tagged", f"GitHub answered {failure}",
                         "tag a commit that was pushed to the repository (GITHUB_SHA of the run is)") from None
    try:
        client.create_ref(f"refs/tags/{candidate.tag}", tag_sha)
        return TagResult(candidate, created=True)
    except ApiFailure as failure:
        if failure.status != 422 or "already exists" not in failure.message.lower():
            raise InputError(f"tag {candidate.tag!r} could not be created", f"GitHub answered {failure}",
                             "use a tag prefix and version that form a valid git ref name") from None
    except OutcomeUnknown:
        pass  # the ref may or may not exist now: look
    existing = read_candidate(client, candidate.tag)
    if existing is None:  # the lost request did not land; this one is safe
        client.create_ref(f"refs/tags/{candidate.tag}", tag_sha)
        return TagResult(candidate, created=True)
    return TagResult(_same_or_conflict(candidate, existing), created=False)


def plan_tag(client: GitHubClient, ctx, candidate: Candidate) -> TagResult:
    """A dry run of create_tag: the same refusals, from reads only (the commit, then the tag)."""
    if read_ledger(client, ctx, [], commit=candidate.commit).commit is None:
        raise InputError(f"commit {candidate.commit} cannot be tagged", "GitHub does not know that commit",
                         "tag a commit that was pushed to the repository (GITHUB_SHA of the run is)")
    existing = read_candidate(client, candidate.tag)
    if existing is None:
        return TagResult(candidate, created=True)
    return TagResult(_same_or_conflict(candidate, existing), created=False)


def _same_or_conflict(wanted: Candidate, existing: Candidate | str) -> Candidate:
    if isinstance(existing, str):
        raise ConflictError(f"tag {wanted.tag!r} already exists and is not a cdhelper release tag",
                            f"it points at {existing[:12]} without the version and digests cdhelper records",
                            f"choose another version, or delete the tag if it was made by mistake: git push --delete origin {wanted.tag}")
    if existing.commit == wanted.commit and existing.manifest == wanted.manifest:
        return existing
    differs = []
    if existing.commit != wanted.commit:
        differs.append(f"commit {existing.commit[:12]} (this build: {wanted.commit[:12]})")
    if existing.manifest != wanted.manifest:
        differs.append(f"digest {existing.manifest} (this build: {wanted.manifest})")
    raise ConflictError(f"tag {wanted.tag!r} already exists with other content", "it records " + " and ".join(differs),
                        "tags are immutable: release this build under a new version (bump it), never move the tag")


def asset_name(path: str) -> str:
    """Release assets are flat: `lib/core.bin` is published as `lib__core.bin`."""
    return path.replace("/", "__")


def check_release_assets(paths: Iterable[str]) -> list[tuple[str, str]]:
    """(path, asset name) of each artifact file, or InputError if GitHub would not keep the names
    apart exactly: names it would rename, and names that collide once flattened (GitHub's asset
    names are unique regardless of case). Pure, so it runs before the tag or release is written."""
    named = [(path, asset_name(path)) for path in paths]
    seen: dict[str, tuple[str, str]] = {}
    for path, name in named:
        if not ASSET_NAME.fullmatch(name) or name.startswith(".") or name.endswith("."):
            raise InputError(f"artifact file {path!r} cannot be published as release asset {name!r}",
                             "GitHub renames asset names with characters other than letters, digits, '.', '-', '_' "
                             "or with a leading or trailing '.', and the release would no longer say which file is which",
                             "rename the file to those characters, or publish no release assets "
                             "(`tag.release: false` in .github/cd.yml)")
        first = seen.setdefault(name.lower(), (path, name))
        if first[0] != path:
            raise InputError(f"artifact files {first[0]!r} and {path!r} would both be release asset {first[1]!r}"
                             + ("" if first[1] == name else f" (as {name!r}, equal but for case)"),
                             "release assets are flat ('/' becomes '__') and GitHub keeps one asset per name, "
                             "regardless of case",
                             "rename one of the files, or publish no release assets (`tag.release: false` in "
                             ".github/cd.yml)")
    return named


def publish_release(client: GitHubClient, candidate: Candidate, sources: tuple[tuple[str, str], ...]) -> dict:
    """A GitHub Release holding the artifact's files, so a rollback never depends on expiring
    workflow artifacts. Idempotent: files already there with the same digest are not uploaded again."""
    names = dict(check_release_assets(path for path, _ in sources))  # again here: never a release half uploaded
    release = client.get_release(candidate.tag)
    if release is None:
        try:
            release = client.create_release(candidate.tag, name=f"Release candidate {candidate.version}",
                                            body=f"```\n{candidate.message()}```\n", commit=candidate.commit)
        except (ApiFailure, OutcomeUnknown):
            release = client.get_release(candidate.tag)  # made meanwhile (a re-run, a lost response)
            if release is None:
                raise
    digests = dict(candidate.files)
    for path, source in sources:
        name = names[path]
        existing = _asset(release, name)
        want = f"sha256:{digests[path]}"
        if existing is None:
            try:
                client.upload_asset(release["upload_url"], name, source)
                continue
            except OutcomeUnknown:
                release = client.get_release(candidate.tag) or release
                existing = _asset(release, name)
                if existing is None:
                    client.upload_asset(release["upload_url"], name, source)
                    continue
        if existing.get("digest") not in (want, None):
            raise ConflictError(f"release {candidate.tag} already has an asset {name!r} with other content",
                                f"it records {existing.get('digest')}, this build {want}",
                                "assets of a release are immutable: release this build under a new version")
    return release


def _asset(release: dict, name: str) -> dict | None:
    return next((a for a in release.get("assets", []) if a["name"] == name), None)
