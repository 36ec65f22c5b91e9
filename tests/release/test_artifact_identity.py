"""Artifact identity is faithful: the same digest means the same bytes under the same names.
One regression test per trick of the security review ("Hardening", item 7)."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import subprocess
import sys

import pytest

from cdhelper.core import digests
from cdhelper.core.digests import digest_paths
from cdhelper.core.errors import InputError
from cdhelper.release import tagging

HELLO = b"hello v1\n"
CORE = b"\x00\x01" * 100


def _tree(root, files: dict[str, bytes]):
    """Make `files` (relative path -> bytes) under root; returns root as str."""
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return str(root)


def _refused(paths, match: str) -> InputError:
    with pytest.raises(InputError) as err:
        digest_paths(paths)
    assert match in err.value.one_line() and " Fix: " in err.value.one_line()
    return err.value


def _guarded(code: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Runs code in a child, so a read that blocks (a FIFO) fails the test instead of hanging it."""
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"blocked for {timeout}s (a FIFO was read): {code}")


# --- the encoding: unchanged for files, unambiguous for images --------------------------------

def test_known_digest_of_a_file_only_artifact_is_unchanged(tmp_path):
    # Pinned from the shell: `sha256sum app.txt lib/core.bin | sha256sum`; existing tags keep their digests.
    dist = _tree(tmp_path / "dist", {"app.txt": HELLO, "lib/core.bin": CORE})
    assert digest_paths([dist]).manifest == "sha256:76f2df08081f6c6fe152c2661ba200aa53a4cca5b1728bf210c807f26fad9273"


def test_known_digest_with_an_image_puts_image_lines_after_a_nul(tmp_path):
    # Pinned from the shell: `{ sha256sum app.txt lib/core.bin; printf '\0'; printf '%s  %s\n' HEX NAME; } | sha256sum`
    dist = _tree(tmp_path / "dist", {"app.txt": HELLO, "lib/core.bin": CORE})
    image = "ghcr.io/acme/app@sha256:" + hashlib.sha256(b"image-bytes").hexdigest()
    assert digest_paths([dist], [image]).manifest == \
        "sha256:3df2f686330ac7c61364ccd23e7c8ffd8f8df4248f3014786961cb4cd3aaf14c"


def test_a_file_named_like_an_image_does_not_share_its_digest(tmp_path):
    content = b"a file whose bytes hash to the image digest"
    image = "ghcr.io/acme/app@sha256:" + hashlib.sha256(content).hexdigest()
    files_only = _tree(tmp_path / "files", {"ghcr.io/acme/app": content})
    assert digest_paths([files_only]).manifest != digest_paths([], [image]).manifest
    # nor when real files come first
    both = _tree(tmp_path / "both", {"a.txt": HELLO, "ghcr.io/acme/app": content})
    one = _tree(tmp_path / "one", {"a.txt": HELLO})
    assert digest_paths([both]).manifest != digest_paths([one], [image]).manifest


def test_an_image_is_identified_by_name_and_digest_only(tmp_path):
    image = "ghcr.io/acme/app@sha256:" + "c" * 64
    dist = _tree(tmp_path / "dist", {"a.txt": HELLO})
    assert digest_paths([dist], [f"  {image}\n", image]) == digest_paths([dist], [image])
    assert digest_paths([dist], [image]).images == (image,)


# --- links and special files --------------------------------------------------------------------

def test_symlinked_directory_inside_artifact_is_refused(tmp_path):
    dist = _tree(tmp_path / "dist", {"app.txt": HELLO, "real/x.bin": CORE})
    os.symlink("real", tmp_path / "dist" / "linked")
    err = _refused([dist], "is a symbolic link to 'real'")
    assert repr(os.path.join(dist, "linked")) in err.what and "cp -rL" in err.fix and "tar --dereference" in err.fix


def test_symlinked_directory_pointing_outside_is_refused(tmp_path):
    outside = _tree(tmp_path / "elsewhere", {"secret.txt": b"s"})
    dist = _tree(tmp_path / "dist", {"app.txt": HELLO})
    os.symlink(outside, tmp_path / "dist" / "more")
    _refused([dist], "is a symbolic link")


def test_symlinked_file_pointing_outside_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not part of the build")
    dist = _tree(tmp_path / "dist", {"app.txt": HELLO})
    os.symlink(secret, tmp_path / "dist" / "config.txt")
    err = _refused([dist], "is a symbolic link")
    assert repr(str(secret)) in err.what and "upload-artifact does not keep links" in err.fix


def test_symlinked_file_inside_the_artifact_is_refused_too(tmp_path):
    dist = _tree(tmp_path / "dist", {"app.txt": HELLO})
    os.symlink("app.txt", tmp_path / "dist" / "alias.txt")
    _refused([dist], "is a symbolic link to 'app.txt'")


def test_dangling_link_is_refused(tmp_path):
    dist = _tree(tmp_path / "dist", {"app.txt": HELLO})
    os.symlink(tmp_path / "gone", tmp_path / "dist" / "later.txt")
    _refused([dist], "is a symbolic link")


def test_a_path_given_explicitly_may_be_a_link_and_is_resolved(tmp_path):
    dist = _tree(tmp_path / "build" / "out", {"app.txt": HELLO, "lib/core.bin": CORE})
    os.symlink(tmp_path / "build" / "out", tmp_path / "dist")
    os.symlink(tmp_path / "build" / "out" / "app.txt", tmp_path / "main.txt")
    assert digest_paths([str(tmp_path / "dist")]).manifest == digest_paths([dist]).manifest
    linked_file = digest_paths([str(tmp_path / "main.txt")])
    assert linked_file.files == (("main.txt", hashlib.sha256(HELLO).hexdigest()),)  # named by the link


def test_fifo_inside_artifact_is_refused_without_blocking(tmp_path):
    dist = _tree(tmp_path / "dist", {"app.txt": HELLO})
    os.mkfifo(tmp_path / "dist" / "pipe")
    done = _guarded(f"from cdhelper.cli.main import main; raise SystemExit(main(['digest', {dist!r}]))")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is a FIFO" in done.stderr and "pipe" in done.stderr


def test_fifo_given_explicitly_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    done = _guarded(f"from cdhelper.cli.main import main; raise SystemExit(main(['digest', {str(tmp_path / 'pipe')!r}]))")
    assert done.returncode == 2 and "is a FIFO" in done.stderr, done.stdout + done.stderr


def test_a_file_swapped_for_a_fifo_or_link_after_the_walk_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path / "pipe", tmp_path / "link")
    for name, words in (("pipe", "is a FIFO"), ("link", "is a symbolic link")):
        done = _guarded("from cdhelper.core.digests import file_digest; from cdhelper.core.errors import InputError\n"
                        f"try: file_digest({str(tmp_path / name)!r})\nexcept InputError as e: print(e.one_line())")
        assert words in done.stdout, done.stdout + done.stderr


def test_socket_inside_artifact_is_refused(tmp_path, monkeypatch):
    import socket
    dist = _tree(tmp_path / "dist", {"app.txt": HELLO})
    monkeypatch.chdir(dist)  # AF_UNIX paths are short: bind a relative name
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("control.sock")
        _refused([dist], "is a socket")


# --- names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, shown", [
    ("a\nb.txt", "a\\nb.txt"),  # splits a manifest line
    ("a\rb.txt", "a\\rb.txt"),
    ("a\x85b.txt", "a\\x85b.txt"),  # NEL: a line break to str.splitlines
    ("a\u2028b.txt", "a\\u2028b.txt"),  # line separator
    ("a\u2029b.txt", "a\\u2029b.txt"),  # paragraph separator
    ("evil\u202etxt.exe", "evil\\u202etxt.exe"),  # bidi override: shows as evilexe.txt
    ("zero\u200bwidth.txt", "zero\\u200bwidth.txt"),  # invisible
    ("a\x01b.txt", "a\\x01b.txt"),
    ("priv\ue000.txt", "priv\\ue000.txt"),  # private use
])
def test_names_with_control_or_invisible_characters_are_refused(tmp_path, name, shown):
    dist = _tree(tmp_path / "dist", {"ok.txt": HELLO, f"sub/{name}": b"x"})
    err = _refused([dist], "control or invisible character")
    assert shown in err.what and name not in err.one_line()  # named with repr(), never raw


def test_newline_in_name_is_refused(tmp_path):
    dist = _tree(tmp_path / "dist", {"a\nb": b"x"})
    _refused([dist], repr(os.path.join(dist, "a\nb")))


def test_a_directory_name_with_a_control_character_is_refused(tmp_path):
    dist = _tree(tmp_path / "dist", {"bad\ndir/file.txt": b"x"})
    _refused([dist], "/bad\\ndir'")


def test_a_file_given_explicitly_with_a_control_character_is_refused(tmp_path):
    path = tmp_path / "a\u2028b"
    path.write_bytes(b"x")
    _refused([str(path)], "U+2028")


def test_an_undecodable_name_is_refused_not_a_crash(tmp_path):
    dist = _tree(tmp_path / "dist", {"ok.txt": HELLO})
    with open(os.path.join(os.fsencode(dist), b"caf\xe9.txt"), "wb") as fh:  # Latin-1, not UTF-8
        fh.write(b"x")
    _refused([dist], "not UTF-8")


def test_ordinary_non_ascii_and_spaced_names_are_fine(tmp_path):
    names = {" lead.txt": b"1", "trail.txt ": b"2", "two  spaces": b"3", "café/naïve.txt": b"4", "日本.txt": b"5"}
    artifact = digest_paths([_tree(tmp_path / "dist", names)])
    assert [p for p, _ in artifact.files] == sorted(names)


# --- same digest, same tree -----------------------------------------------------------------

def test_the_newline_trick_cannot_make_two_trees_share_a_digest(tmp_path):
    # One file named "a\n<hex of b's bytes>  b" gives the manifest lines of two files a and b.
    b_hex = hashlib.sha256(b"B").hexdigest()
    honest = _tree(tmp_path / "honest", {"a": b"A", "b": b"B"})
    forged = _tree(tmp_path / "forged", {f"a\n{b_hex}  b": b"A"})
    _refused([forged], "control or invisible character")
    assert digest_paths([honest]).manifest.startswith("sha256:")


TRICKY = ["a", "b", "a b", " a", "a ", "a  b", "a\nb", "a\rb", "a\tb", "a\\nb", "a\u2028b", "a\u202eb", "a\x85b",
          "sub/a", "sub/b", "sub a", "sub\na", "e\u0301", "\u00e9", "-", "a\n" + hashlib.sha256(b"1").hexdigest() + "  b"]


def test_two_different_trees_never_share_a_digest(tmp_path):
    """Property-style: many small trees over tricky names; a digest (when one is given) names one tree."""
    rng = random.Random(7)
    trees = {tuple(sorted({"a": b"0", "b": b"1"}.items()))}  # the newline trick's honest twin
    trees |= {((name, content),) for name in TRICKY for content in (b"0", b"1")}
    for size in (1, 2, 3):
        for names in itertools.islice(itertools.combinations(TRICKY, size), 0, None, 7):
            trees.add(tuple(sorted((n, rng.choice([b"0", b"1", b""])) for n in names)))
    seen: dict[str, tuple] = {}
    for i, tree in enumerate(sorted(trees)):
        try:
            root = _tree(tmp_path / f"t{i}", dict(tree))
        except OSError:  # e.g. "sub" both a file and a directory: no such tree
            continue
        try:
            digest = digest_paths([root]).manifest
        except InputError:
            continue
        assert seen.setdefault(digest, tree) == tree, f"{seen[digest]!r} and {tree!r} share {digest}"
    assert len(seen) > 50  # the loop really compared trees


def test_digest_changes_with_a_name_or_a_byte(tmp_path):
    base = digest_paths([_tree(tmp_path / "a", {"x.txt": b"1"})]).manifest
    assert digest_paths([_tree(tmp_path / "b", {"y.txt": b"1"})]).manifest != base
    assert digest_paths([_tree(tmp_path / "c", {"x.txt": b"2"})]).manifest != base
    assert digest_paths([_tree(tmp_path / "d", {"x.txt ": b"1"})]).manifest != base


def test_many_files_are_hashed_alike_on_one_or_many_threads(tmp_path):
    files = {f"d{i % 5}/f{i}.bin": bytes([i % 256]) * (i * 37) for i in range(300)}
    files["big.bin"] = os.urandom(digests.SMALL + 1)  # takes the large-file path
    root = _tree(tmp_path / "dist", files)
    one, many = digest_paths([root], workers=1), digest_paths([root], workers=4)
    assert one == many and len(one.files) == len(files)
    assert dict(one.files)["big.bin"] == hashlib.sha256(files["big.bin"]).hexdigest()


# --- the tag message and release assets (items 14 and from_message) ----------------------------

SHA = "a" * 40


def _candidate(tmp_path, files: dict[str, bytes], images=()) -> tagging.Candidate:
    artifact = digest_paths([_tree(tmp_path / "dist", files)], list(images))
    return tagging.make_candidate("1.0.0", "v", SHA, artifact)


def test_from_message_round_trips_paths_with_spaces_at_both_ends(tmp_path):
    wanted = _candidate(tmp_path, {" lead and trail ": b"1", "lib/ inner /x.txt": b"2", "plain.txt": b"3"},
                        ["ghcr.io/acme/app@sha256:" + "d" * 64])
    back = tagging.Candidate.from_message("v1.0.0", wanted.message())
    assert back == wanted
    assert dict(back.files)[" lead and trail "] == hashlib.sha256(b"1").hexdigest()  # what publish_release looks up
    assert digests.manifest_digest(back.files, back.images) == wanted.manifest


def test_from_message_reads_a_path_holding_colons_and_hashes(tmp_path):
    wanted = _candidate(tmp_path, {"a: b #1.txt": b"1", "sha256: x": b"2"})
    assert tagging.Candidate.from_message("v1.0.0", wanted.message()) == wanted


def test_from_message_reads_a_repeated_identical_line_once(tmp_path):
    wanted = _candidate(tmp_path, {"a.txt": b"1"})
    lines = wanted.message().splitlines(keepends=True)
    assert tagging.Candidate.from_message("v1.0.0", "".join(lines + lines[2:])) == wanted


@pytest.mark.parametrize("extra", [
    "cdhelper-version: 9.9.9",
    "cdhelper-commit: " + "b" * 40,
    "cdhelper-manifest: sha256:" + "e" * 64,
    "cdhelper-file: sha256:" + "f" * 64 + " a.txt",  # the same path with another digest
    "cdhelper-file: sha256:short a.txt",
    "cdhelper-file: md5:" + "f" * 32 + " b.txt",
])
def test_a_message_that_contradicts_itself_records_no_candidate(tmp_path, extra):
    message = _candidate(tmp_path, {"a.txt": b"1"}).message()
    assert tagging.Candidate.from_message("v1.0.0", message + extra + "\n") is None
    assert tagging.Candidate.from_message("v1.0.0", extra + "\n" + message) is None


def test_release_asset_names_that_collide_after_flattening_are_refused():
    with pytest.raises(InputError) as err:
        tagging.check_release_assets(["lib/app.js", "lib__app.js", "other.txt"])
    line = err.value.one_line()
    assert "'lib/app.js' and 'lib__app.js'" in line and "'lib__app.js'" in line and " Fix: " in line


def test_release_asset_names_equal_but_for_case_are_refused():
    with pytest.raises(InputError, match="equal but for case"):
        tagging.check_release_assets(["App.js", "lib/x", "app.js"])


@pytest.mark.parametrize("path", ["my app.js", ".env", "lib/.env.", "app.", "na\u00efve.txt", "a(1).js", "a~b",
                                  "a:b", "a+b.tgz", "100%.txt", "a\tb"])
def test_release_asset_names_github_would_rename_are_refused(path):
    with pytest.raises(InputError) as err:
        tagging.check_release_assets(["ok.txt", path])
    assert repr(path) in err.value.what and "renames" in err.value.why and "tag.release: false" in err.value.fix


def test_release_asset_names_github_keeps_are_mapped():
    paths = ["app-1.0_x.tar.gz", "lib/core.bin", "lib/.hidden", "a/b/c.d-e_f"]
    assert tagging.check_release_assets(paths) == [
        ("app-1.0_x.tar.gz", "app-1.0_x.tar.gz"), ("lib/core.bin", "lib__core.bin"), ("lib/.hidden", "lib__.hidden"),
        ("a/b/c.d-e_f", "a__b__c.d-e_f")]


def test_publish_release_refuses_a_clash_before_any_request(tmp_path):
    class NoRequests:
        def __getattr__(self, name):
            raise AssertionError(f"{name} was called: a refused release must not touch GitHub")

    candidate = _candidate(tmp_path, {"lib/app.js": b"1", "lib__app.js": b"2"})
    with pytest.raises(InputError, match="would both be release asset 'lib__app.js'"):
        tagging.publish_release(NoRequests(), candidate, (("lib/app.js", "x"), ("lib__app.js", "y")))
