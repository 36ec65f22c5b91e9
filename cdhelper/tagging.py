"""Immutable tags: an annotated tag on the built commit whose message carries the version and
digests in machine-readable `cdhelper-*` lines. Re-tagging the same commit and digest is a no-op;
a tag that exists with other content is refused."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .digests import Artifact, manifest_digest
from .errors import ConflictError, InputError
from .github_api import ApiFailure, GitHubClient, OutcomeUnknown

SHA = re.compile(r"^[0-9a-f]{40}$")


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
        fields: dict[str, list[str]] = {}
        for line in message.splitlines():
            key, sep, value = line.partition(": ")
            if sep and key.startswith("cdhelper-"):
                fields.setdefault(key, []).append(value.strip())
        if not {"cdhelper-version", "cdhelper-commit", "cdhelper-manifest"} <= fields.keys():
            return None
        files = tuple(sorted((p, d.removeprefix("sha256:"))
                             for d, _, p in (f.partition(" ") for f in fields.get("cdhelper-file", []))))
        return cls(version=fields["cdhelper-version"][0], tag=tag, commit=fields["cdhelper-commit"][0],
                   manifest=fields["cdhelper-manifest"][0], files=files, images=tuple(fields.get("cdhelper-image", [])))


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


def publish_release(client: GitHubClient, candidate: Candidate, sources: tuple[tuple[str, str], ...]) -> dict:
    """A GitHub Release holding the artifact's files, so a rollback never depends on expiring
    workflow artifacts. Idempotent: files already there with the same digest are not uploaded again."""
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
        name = asset_name(path)
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
