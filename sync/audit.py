"""The audit log (R34): every state-changing action and every refusal."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from .models import AuditEntry
from .roles import Principal

# Keys whose values never enter the log, whatever the caller passes.
_SECRET_KEY = re.compile(r"token|secret|password|key|assertion|authorization", re.I)


def scrub(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {k: ("[redacted]" if _SECRET_KEY.search(str(k)) else scrub(v)) for k, v in detail.items()}
    if isinstance(detail, (list, tuple)):
        return [scrub(v) for v in detail]
    return detail


def record(session: Session, principal: Principal, action: str, outcome: str,
           target: str | None = None, **detail: Any) -> AuditEntry:
    entry = AuditEntry(actor=principal.who, role=principal.role, channel=principal.channel,
                       action=action, target=target, outcome=outcome, detail=scrub(detail))
    session.add(entry)
    return entry
