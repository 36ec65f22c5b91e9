"""The flag suites share test_flags.py's pipeline with 1.0.0 live in staging and production."""

from .test_flags import live  # noqa: F401 - the fixture
