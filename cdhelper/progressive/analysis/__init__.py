"""Analysis: the measurements that decide whether a rollout goes on or rolls back.

- spec.py: one entry of cd.yml's `analysis:` (`parse`), durations (`parse_duration`), the
  providers' table;
- promql.py: `{{variables}}` in PromQL, escaped for the context they stand in;
- providers.py: prometheus, http and command: their settings, samples and preflight (adding a
  provider: a class there and its entry in cdhelper/core/schemas/analysis.schema.json);
- judge.py and compare.py: the canary against its baseline (Mann-Whitney U, Kayenta's score);
- decide.py: `run` takes the samples and decides passed, failed or inconclusive.

Variables (`{{version}}`, `{{environment}}`, `{{slot}}`, `{{weight}}`) are replaced in queries
and URLs; commands get them as environment variables (CD_VERSION, ...), never spliced in.
"""

from . import compare  # noqa: F401 - registers the compare provider (after providers.py's)
from .decide import Measurement, Result, run
from .providers import PROVIDERS, preflight
from .spec import Analysis, parse, parse_duration

__all__ = ["PROVIDERS", "Analysis", "Measurement", "Result", "parse", "parse_duration", "preflight", "run"]
