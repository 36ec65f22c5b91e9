"""Artifact identity: a sha256 per file plus one manifest digest over the sorted `digest  path`
lines (the `sha256sum` format); container images by registry digest.

Hashing streams (constant memory) through OpenSSL via hashlib, which releases the GIL, so a
directory of many files is hashed on every core with threads.
"""

from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

IMAGE = re.compile(r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
                   r"@(?P<digest>sha256:[a-f0-9]{64})$")
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Artifact:
    files: tuple[tuple[str, str], ...]  # (relative path, hex digest), sorted by path
    images: tuple[str, ...] = ()  # name@sha256:...
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # (relative path, where it is on disk)

    @property
    def manifest(self) -> str:
        return manifest_digest(self.files, self.images)

    def sha256sum(self) -> str:
        return "".join(f"{digest}  {path}\n" for path, digest in self.files)


def manifest_digest(files: tuple[tuple[str, str], ...], images: tuple[str, ...] = ()) -> str:
    lines = "".join(f"{digest}  {path}\n" for path, digest in sorted(files))
    lines += "".join(f"{image.split('@', 1)[1].split(':', 1)[1]}  {image.split('@', 1)[0]}\n" for image in sorted(images))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


SMALL = 4 * CHUNK


def file_digest(path: str | os.PathLike, size: int | None = None) -> str:
    if size is not None and size <= SMALL:
        # Small files: raw reads keep the per-file work that holds the GIL minimal, so threads scale.
        fd = os.open(path, os.O_RDONLY)
        try:
            digest = hashlib.sha256()
            while block := os.read(fd, CHUNK):
                digest.update(block)
            return digest.hexdigest()
        finally:
            os.close(fd)
    with open(path, "rb") as fh:
        if hasattr(hashlib, "file_digest"):
            return hashlib.file_digest(fh, "sha256").hexdigest()
        digest, buf = hashlib.sha256(), bytearray(CHUNK)  # pragma: no cover - Python 3.10
        view = memoryview(buf)
        while n := fh.readinto(buf):
            digest.update(view[:n])
        return digest.hexdigest()


def _collect(paths: list[str]) -> list[tuple[str, Path]]:
    """(name in the manifest, file). Files are named by basename, directory members relative to
    the directory, so the digest does not depend on where a job downloaded the artifact."""
    found: list[tuple[str, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append((path.name, path))
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in files:
                    full = Path(root) / name
                    if full.is_file():
                        found.append((full.relative_to(path).as_posix(), full))
        else:
            raise InputError(f"artifact path {raw!r} does not exist", "digests can only be taken of files or directories",
                             "build the artifact first, or download it into this job, and pass its path")
    names = [n for n, _ in found]
    clash = next((n for n in names if names.count(n) > 1), None)
    if clash:
        raise InputError(f"artifact paths give two files the name {clash!r}",
                         "the manifest names files by path relative to what was given",
                         "pass one directory that holds all files, or files with distinct names")
    if not found:
        raise InputError(f"artifact paths {paths!r} hold no files", "an empty artifact has nothing to promote",
                         "pass the directory or files your build produced")
    return found


def digest_paths(paths: list[str], images: list[str] = (), *, workers: int | None = None) -> Artifact:
    files = _collect(list(paths)) if paths else []
    for image in images:
        parse_image(image)
    workers = min(workers or os.cpu_count() or 1, len(files) or 1)
    sizes = [p.stat().st_size for _, p in files]
    if workers == 1:
        digests = [file_digest(p, size) for (_, p), size in zip(files, sizes, strict=True)]
    else:
        digests = [""] * len(files)
        batches: list[list[int]] = [[] for _ in range(workers)]
        loads = [0] * workers
        for i in sorted(range(len(files)), key=lambda i: -sizes[i]):  # largest first, to the least loaded
            lightest = loads.index(min(loads))
            batches[lightest].append(i)
            loads[lightest] += sizes[i] + 4096

        def run(batch: list[int]) -> None:
            for i in batch:
                digests[i] = file_digest(files[i][1], sizes[i])

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, batches))
    return Artifact(files=tuple(sorted(zip([n for n, _ in files], digests, strict=True))), images=tuple(sorted(images)),
                    sources=tuple(sorted((n, str(p)) for n, p in files)))


def parse_image(raw: str) -> tuple[str, str]:
    m = IMAGE.match(raw.strip())
    if not m:
        raise InputError(f"image {raw!r} is not identified by digest",
                         "images are promoted by registry digest, never by a movable tag",
                         "pass NAME@sha256:<64 hex digits>, e.g. ghcr.io/acme/app@sha256:… (docker buildx prints it)")
    return m.group("name"), m.group("digest")


def parse_digest(raw: str) -> str:
    value = raw.strip().lower()
    if not DIGEST.match(value):
        raise InputError(f"digest {raw!r} is not a sha256 digest", "digests look like sha256: followed by 64 hex digits",
                         "pass the `digest` output of the release step unchanged")
    return value
