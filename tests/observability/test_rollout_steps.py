"""parse_step: the rollout's progress read back from the status descriptions both layouts write."""

from __future__ import annotations

import pytest

from cdhelper.observe.rollouts import Step, analysis_of, parse_step

LABEL = " (reported by the deploy job)"


@pytest.mark.parametrize("suffix", ["", LABEL], ids=["single-job", "split"])
@pytest.mark.parametrize(("text", "step"), [
    ("canary 2/4: 50% - errors passed: 0.01, 0.012", Step(2, 4, 50, "50% - errors passed: 0.01, 0.012")),
    ("canary 1/3: 25%", Step(1, 3, 25, "25%")),
    ("canary 3/4: paused; a later job resumes it", Step(3, 4, None, "paused; a later job resumes it", paused=True)),
    ("rolling 1/3: batch deployed - errors passed: 0", Step(1, 3, None, "batch deployed - errors passed: 0")),
    ("blue-green 2/2: switched to green (previous: blue)", Step(2, 2, None, "switched to green (previous: blue)")),
    ("paused at step 2 of 3; the soak job resumes it",
     Step(2, 3, None, "paused at step 2 of 3; the soak job resumes it", paused=True)),
    ("Resuming 2.1.0 in production after the hold at step 2",
     Step(2, 0, None, "Resuming 2.1.0 in production after the hold at step 2", resuming=True)),
])
def test_each_layouts_step_text_reads_as_the_same_step(text, step, suffix):
    found = parse_step(text + suffix)
    assert found is not None
    assert found == Step(**{**step.__dict__, "reported": bool(suffix)})


@pytest.mark.parametrize("text", ["Queued: 2.1.0 to production", "Deploying 2.1.0 to production", "",
                                  "2.1.0 is live in production", "canary two/four: 50%", "analysis failed at 50%"])
def test_texts_that_report_no_step_read_as_none(text):
    assert parse_step(text) is None


def test_a_label_cut_by_githubs_140_characters_still_reads_the_step():
    text = ("canary 2/4: 50% - errors passed: 0.01" + LABEL)[:40]
    found = parse_step(text)
    assert found is not None and (found.step, found.steps, found.weight) == (2, 4, 50)


def test_the_analysis_values_are_read_from_a_steps_text():
    assert analysis_of(parse_step("canary 2/4: 50% - errors passed: 0.01, 0.012 (reported by the deploy job)").what) \
        == "errors passed: 0.01, 0.012"
    assert analysis_of(parse_step("canary 4/4: 100%").what) == ""
