"""A small, real platform for the rehearsal and the progressive-delivery tests.

Hooks talk to it as they would talk to Kubernetes or a PaaS: `deploy` a version (beside the
others, or to a blue/green slot), shift `weight` to it, `switch` slots, `teardown`. Behind it run
real parts: one sample service process per version (`service.py`, with Prometheus metrics), a real
nginx splitting the traffic (`splitter.py`), a real Prometheus scraping the services
(`prometheus.py`), all owned by a supervisor process (`supervisor.py`) that no hook's end can kill.
`Platform` (api.py) is the Python side; `python -m cdhelper.devtools.rehearsal.platform ctl` the CLI side;
`hooks/` holds sample hooks for cd.yml. Needs nginx, prometheus (Debian: nginx-light, prometheus)
and the Python package prometheus_client; `missing()` says which are absent.
"""

from .api import Platform, missing
from .common import PlatformError
from .load import Load

__all__ = ["Load", "Platform", "PlatformError", "missing"]
