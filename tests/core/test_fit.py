"""`fit`: text within a limit (GitHub's 140 characters of a status), cut at a word and marked."""

from __future__ import annotations

from cdhelper.core.escaping import fit


def test_text_within_the_limit_is_kept_whole():
    assert fit("canary 2/4: 50% - errors passed: 0.01", 140) == "canary 2/4: 50% - errors passed: 0.01"


def test_a_long_text_is_cut_at_a_word_and_never_ends_on_a_dangling_separator():
    text = "analysis errors failed at 50%: 0.47 - at sample 1 of 4: 0.47 > max 0.05 (1 failed; values: 0.47, 0.48, 0.5)"
    cut = fit(text, 90)
    assert len(cut) <= 90 and cut.endswith("…")
    assert text.startswith(cut[:-1]) and not cut[:-1].endswith((" ", ":", ",", ";", "(", "-"))
    assert fit("x" * 200, 50) == "x" * 49 + "…"  # no word to cut at: cut and marked all the same
