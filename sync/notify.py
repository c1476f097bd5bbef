"""Where the core reports events; the composition root plugs in Slack or a log."""
from __future__ import annotations

import logging
import re
from typing import Protocol

log = logging.getLogger("connector.events")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

# Events: sync_errors, connector_state, job_finished, paused, reactivation_requested,
# reactivation_approved, reactivation_denied, reactivation_expired; on the salesforce engine (sync/native.py)
# also sync_errors_resolved, reactivation_unpaused, reactivation_failed.


class Notifier(Protocol):
    def __call__(self, event: str, payload: dict) -> None: ...


def log_notifier(event: str, payload: dict) -> None:
    # Payloads name people (requesters, approvers, records' emails): INFO shows them masked,
    # DEBUG has the whole payload for someone debugging on purpose.
    log.info("%s %s", event, _EMAIL.sub("<email>", repr(payload)))
    log.debug("%s %r", event, payload)
