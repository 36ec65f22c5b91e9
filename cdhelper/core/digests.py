"""Artifact identity: a sha256 per file plus one manifest digest over the sorted `digest  path`
lines (the `sha256sum` format); container images by registry digest.

The manifest is faithful: the same digest means the same bytes under the same names. So inside a
directory only regular files and directories are accepted (no link is followed, no FIFO is read),
and names holding control or invisible characters are refused; with those gone the lines cannot be
confused with each other, and images are encoded after a NUL byte that no file list can contain.

Hashing streams (constant memory) through OpenSSL via hashlib, which releases the GIL, so a
directory of many files is hashed on every core with threads.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

IMAGE = re.compile(r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
                   r"@(?P<digest>sha256:[a-f0-9]{64})$")
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
CHUNK = 1024 * 1024
SMALL = 4 * CHUNK

# Controls (newline, CR, U+0085), format characters (bidi overrides, zero-width), private use,
# surrogates (undecodable bytes, as os.walk surfaces them) and line/paragraph separators: a name
# holding one can break a manifest line or show as something it is not.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
# Opening never follows a final link and never blocks on a FIFO swapped in after the walk.
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
DEREFERENCE = ("copy the artifact with links dereferenced (`cp -rL dist dist-real`) or ship a tarball (`tar --dereference "
               "-czf dist.tgz dist`) and pass that, or remove the link; actions/upload-artifact does not keep links either")


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
    """sha256 of the `{hex}  {path}` lines of the files (exactly what `sha256sum` prints, so a
    file-only artifact keeps the digest it always had), then, only if there are images, a NUL byte
    and their `{hex}  {name}` lines. File names never hold a NUL, so no file list can produce the
    bytes of an image."""
    text = "".join(f"{digest}  {path}\n" for path, digest in sorted(files))
    if images:
        text += "\0" + "".join(f"{digest.split(':', 1)[1]}  {name}\n" for name, digest in map(_split_image, sorted(images)))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _split_image(image: str) -> tuple[str, str]:
    name, _, digest = image.partition("@")
    return name, digest


def file_digest(path: str | os.PathLike) -> str:
    """Hex sha256 of a regular file. The final path component is not followed if it is a link, and
    anything but a regular file is refused, so a swap after the walk can neither redirect nor hang."""
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise _link(str(path), path) from None
        raise _unreadable(str(path), exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _special(str(path), info.st_mode)
        if info.st_size <= SMALL:
            # Small files: raw reads keep the per-file work that holds the GIL minimal, so threads scale.
            digest = hashlib.sha256()
            while block := os.read(fd, CHUNK):
                digest.update(block)
            return digest.hexdigest()
        with open(fd, "rb", closefd=False) as fh:
            if hasattr(hashlib, "file_digest"):
                return hashlib.file_digest(fh, "sha256").hexdigest()
            digest, buf = hashlib.sha256(), bytearray(CHUNK)  # pragma: no cover - Python 3.10
            view = memoryview(buf)
            while n := fh.readinto(buf):
                digest.update(view[:n])
            return digest.hexdigest()
    finally:
        os.close(fd)


def _collect(paths: list[str]) -> list[tuple[str, str, int]]:
    """(name in the manifest, file on disk, size). Files are named by basename, directory members
    relative to the directory, so the digest does not depend on where a job downloaded the artifact.

    A path given here may itself be a link (to a file or a directory): naming it is the user's
    explicit choice, so it is resolved, and a linked file keeps the name of the link. Inside a
    directory nothing is followed: links (to anything, anywhere, dangling or not) and special files
    (FIFO, socket, device) are refused, as are names with control or invisible characters."""
    found: list[tuple[str, str, int]] = []
    for raw in paths:
        real = os.path.realpath(raw)
        try:
            info = os.stat(real)
        except OSError:
            raise InputError(f"artifact path {raw!r} does not exist", "digests can only be taken of files or directories",
                             "build the artifact first, or download it into this job, and pass its path") from None
        if stat.S_ISREG(info.st_mode):
            name = Path(raw).name
            _check_name(name, raw)
            found.append((name, real, info.st_size))
        elif stat.S_ISDIR(info.st_mode):
            found += _walk(raw, real)
        else:
            raise _special(raw, info.st_mode)
    names = {n for n, _, _ in found}
    if len(names) != len(found):
        seen: set[str] = set()
        clash = next(n for n, _, _ in found if n in seen or seen.add(n))
        raise InputError(f"artifact paths give two files the name {clash!r}",
                         "the manifest names files by path relative to what was given",
                         "pass one directory that holds all files, or files with distinct names")
    if not found:
        raise InputError(f"artifact paths {paths!r} hold no files", "an empty artifact has nothing to promote",
                         "pass the directory or files your build produced")
    return found


def _walk(shown_root: str, real_root: str) -> list[tuple[str, str, int]]:
    """Regular files under a directory, without following anything (scandir answers from lstat)."""
    found: list[tuple[str, str, int]] = []
    pending = [("", real_root)]
    while pending:
        prefix, directory = pending.pop()
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)  # a stable first error
        except OSError as exc:
            raise _unreadable(os.path.join(shown_root, prefix), exc) from None
        for entry in entries:
            name = prefix + entry.name
            shown = os.path.join(shown_root, name)
            _check_name(entry.name, shown)
            if entry.is_symlink():
                raise _link(shown, entry.path)
            if entry.is_dir(follow_symlinks=False):
                pending.append((name + "/", entry.path))
            elif entry.is_file(follow_symlinks=False):
                found.append((name, entry.path, entry.stat(follow_symlinks=False).st_size))
            else:
                raise _special(shown, entry.stat(follow_symlinks=False).st_mode)
    return found


def _check_name(name: str, shown: str) -> None:
    if name.isprintable():  # the common case; printable strings hold none of the unsafe categories
        return
    bad = next((c for c in name if unicodedata.category(c) in UNSAFE_CATEGORIES), None)
    if bad is not None:
        kind = "a byte that is not UTF-8" if unicodedata.category(bad) == "Cs" else "the control or invisible character"
        raise InputError(f"artifact name {shown!r} holds {kind} U+{ord(bad):04X}",
                         "such names can split a manifest line or display as another name, so two different "
                         "artifacts could share a digest",
                         "rename it using visible characters only (a build should not produce such names)")


def _link(shown: str, path: str) -> InputError:
    try:
        target = f" to {os.readlink(path)!r}"
    except OSError:
        target = ""
    return InputError(f"artifact {shown!r} is a symbolic link{target}",
                      "links inside an artifact directory are not followed: their target can change (or lie outside "
                      "the artifact) without changing the digest",
                      DEREFERENCE)


def _special(shown: str, mode: int) -> InputError:
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
    return InputError(f"artifact {shown!r} is {kind}",
                      "only regular files and directories can be digested (reading a FIFO or device may never end)",
                      "remove it from the artifact directory, or copy just the build output into a clean directory")


def _unreadable(shown: str, exc: OSError) -> InputError:
    return InputError(f"artifact {shown!r} cannot be read", exc.strerror or type(exc).__name__,
                      "make the artifact readable by the job's user (check its permissions)")


def digest_paths(paths: list[str], images: list[str] = (), *, workers: int | None = None) -> Artifact:
    files = _collect(list(paths)) if paths else []
    # Images are identified by name@digest exactly as parsed (surrounding blanks dropped, repeats merged).
    images = sorted({"@".join(parse_image(image)) for image in images})
    workers = min(workers or os.cpu_count() or 1, len(files) or 1)
    if workers == 1:
        digests = [file_digest(p) for _, p, _ in files]
    else:
        digests = [""] * len(files)
        batches: list[list[int]] = [[] for _ in range(workers)]
        loads = [0] * workers
        for i in sorted(range(len(files)), key=lambda i: -files[i][2]):  # largest first, to the least loaded
            lightest = loads.index(min(loads))
            batches[lightest].append(i)
            loads[lightest] += files[i][2] + 4096

        def run(batch: list[int]) -> None:
            for i in batch:
                digests[i] = file_digest(files[i][1])

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, batches))
    return Artifact(files=tuple(sorted(zip([n for n, _, _ in files], digests, strict=True))), images=tuple(images),
                    sources=tuple(sorted((n, p) for n, p, _ in files)))


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
