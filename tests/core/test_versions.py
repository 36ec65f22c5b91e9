"""Versions: ASCII SemVer 2.0, a length cap, and precedence where build metadata orders nothing
(security review "Hardening", item 12)."""

from __future__ import annotations

import pytest

from cdhelper.core import versions
from cdhelper.core.errors import InputError


def _refused(raw: str) -> InputError:
    with pytest.raises(InputError) as err:
        versions.parse(raw)
    assert " Fix: " in err.value.one_line()
    return err.value


@pytest.mark.parametrize("raw", [
    "\u0663.0.0",  # Arabic-Indic three
    "1.\u0660.0",
    "1.0.\u09e7",  # Bengali one
    "1\u0663.0.0",
    "\uff11.0.0",  # fullwidth one
    "1.0.0-rc.\u0661",
    "1.0.0+build.\u0662",
    "1.0.0-b\u0435ta",  # Cyrillic e, a look-alike
])
def test_non_ascii_digits_and_letters_are_refused(raw):
    err = _refused(raw)
    assert "non-ASCII" in err.what and repr(raw) in err.what and f"U+{ord(next(c for c in raw if not c.isascii())):04X}" in err.what


def test_arabic_indic_digits_are_refused_not_read_as_numbers():
    # Python's \d matched "\u0663" (Arabic-Indic three) after a first ASCII digit, and int() read "1\u0663" as 13.
    for raw in ("\u0663.0.0", "1\u0663.0.0", "1.0.2\u0663"):
        assert "non-ASCII character '\u0663'" in _refused(raw).what


def test_a_101_character_version_is_refused_with_a_short_message():
    raw = "1.0.0-" + "a" * 95
    assert len(raw) == 101
    err = _refused(raw)
    assert "too long" in err.what and "(101 characters)" in err.what and repr(raw[:40]) in err.what
    assert raw not in err.one_line() and len(err.one_line()) < 400


def test_a_100_character_version_is_accepted():
    raw = "1.0.0-" + "a" * 94
    assert len(raw) == versions.MAX_LENGTH and str(versions.parse(raw)) == raw


def test_a_100_kb_version_never_floods_the_log():
    raw = "1.0.0+" + "b" * 100_000
    line = _refused(raw).one_line()
    assert "(100006 characters)" in line and len(line) < 400


def test_a_long_invalid_value_is_shown_short_too():
    line = _refused(" " * 50_000 + "nope").one_line()
    assert len(line) < 400 and "(50004 characters)" in line


def test_version_objects_enforce_the_cap_and_ascii_themselves():
    for text in ("1.0.0-" + "a" * 95, "\u0663.0.0", "1.0.0\n"):
        with pytest.raises(ValueError):
            versions.Version(text)


def test_build_metadata_is_kept_but_orders_nothing():
    one, two = versions.parse("2.0.0+build.1"), versions.parse("2.0.0+build.2")
    assert (one.build, two.build) == ("build.1", "build.2")
    assert one.same_precedence(two) and two.same_precedence(one)
    assert not two.is_newer_than(one) and not one.is_newer_than(two)
    assert not one < two and not two < one and one == two and hash(one) == hash(two)
    assert one.precedence() == two.precedence() and str(one) != str(two)


def test_equal_precedence_is_not_newer():
    release = versions.parse("1.4.0")
    assert not release.is_newer_than(versions.parse("v1.4.0"))
    assert release.is_newer_than(versions.parse("1.4.0-rc.1+build.99"))
    assert not versions.parse("1.4.0-rc.1+build.99").is_newer_than(versions.parse("1.4.0-rc.1+build.1"))


@pytest.mark.parametrize("older, newer", [
    ("1.0.0-alpha", "1.0.0-alpha.1"), ("1.0.0-alpha.1", "1.0.0-alpha.beta"), ("1.0.0-alpha.beta", "1.0.0-beta"),
    ("1.0.0-beta.2", "1.0.0-beta.11"), ("1.0.0-rc.1", "1.0.0"), ("1.0.0", "1.0.1"), ("1.9.0", "1.10.0"),
    ("1.0.0-9", "1.0.0-a"), ("1.0.0-A", "1.0.0-a"), ("1.0.0+zzz", "1.0.1+aaa"),
])
def test_precedence_follows_semver(older, newer):
    old, new = versions.parse(older), versions.parse(newer)
    assert new.is_newer_than(old) and not old.is_newer_than(new) and not new.same_precedence(old)
    assert old < new and sorted([new, old]) == [old, new]


@pytest.mark.parametrize("bad", ["1.0.0\n1.0.1", "1.0", "1.0.0-", "1.0.0+", "1.0.0-01", "v", "vv1.0.0", "1.0.0.0"])
def test_malformed_versions_are_refused(bad):
    assert "not a SemVer 2.0 version" in _refused(bad).what
