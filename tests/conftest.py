"""Settings for the whole suite.

Hypothesis times each example (a 200 ms deadline) and the generation of its data (the
`too_slow` health check) by default: on a loaded CI machine both fail tests that are only slow.
The suite's property tests check results, never speed, so neither applies to any of them.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("lps", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("lps")
