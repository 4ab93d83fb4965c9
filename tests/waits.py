"""How long the suite waits for an event before it calls the wait a failure.

Every wait in the suite returns as soon as its event happens: a reply, a log line, a port that
listens, a published status, a drained queue. The deadline only decides when to give up, so it
is a failure detector, not a pace: generous, so that a shared CI machine (two cores, other jobs,
a CPU hog) never fails a test that was merely slow, and free on a quiet machine. Timeouts that
a test checks on purpose (a mute card, a hung switch, an idle connection) stay short where they
are set; these numbers are for everything that must not time out.
"""

from __future__ import annotations

EVENT = 60.0
"""An answer, a log line, a status, a card seen by the reader: normally milliseconds."""

START = 120.0
"""A process or a browser starting until it is ready: normally a second or two."""
