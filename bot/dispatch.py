"""Command → service call → reply. The only place the chat transports call the service for commands.

Rules (roles, validation, audit) live in the service; this module only maps words to
calls and service errors to answers."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from sync import incidents
from sync.errors import Forbidden, NotFound, ServiceError
from sync.roles import Principal

from . import grammar, render

log = logging.getLogger("connector.bot")


@dataclass
class Reply:
    text: str
    blocks: list | None = None
    ok: bool = True
    command: str | None = None
    job: dict | None = None      # a job just queued: its outcome is reported when it ends
    request: dict | None = None  # a reactivation request just filed: the transport asks for approval


def bot_principal(channel: str) -> Principal:
    """R32: the bot reads the connector version with its own rights, whatever the asker's role."""
    return Principal("pardot-connector bot", "viewer", channel, "the bot's own rights")


class Dispatcher:
    def __init__(self, service):
        self.service = service

    def run(self, principal: Principal, text: str, notify: dict | None = None, follow_up: str = "") -> Reply:
        parsed = grammar.parse(text)
        if isinstance(parsed, grammar.ParseError):
            return Reply(*render.parse_error(parsed), ok=False)
        return self.execute(principal, parsed, notify, follow_up)

    def execute(self, principal: Principal, cmd: grammar.Command, notify: dict | None = None,
                follow_up: str = "") -> Reply:
        handler = getattr(self, "_" + cmd.name)
        try:
            reply = handler(principal, notify=notify, follow_up=follow_up, **cmd.args)
        except Forbidden as exc:
            # Named by the command typed (`retry`), not the service's action (issue 9 item 14).
            return Reply(*render.refused(cmd.name, exc.needed_role, principal.role, principal.role_source),
                         ok=False, command=cmd.name)
        except NotFound as exc:  # a mistyped or unknown id
            return Reply(*render.not_found(exc.message), ok=False, command=cmd.name)
        except ServiceError as exc:
            return Reply(*render.failed(exc.message, exc.details), ok=False, command=cmd.name)
        except Exception as exc:  # noqa: BLE001 - a chat user gets an answer, the log gets the trace
            category, reason, incident = incidents.describe(exc, f"command {cmd.name}", log)
            if category == "dependency_unavailable":
                return Reply(*render.plain(incidents.UNAVAILABLE), ok=False, command=cmd.name)
            return Reply(f"`{cmd.name}` failed unexpectedly (incident {incident}); the details are in the "
                         "connector's log.", ok=False, command=cmd.name)
        return replace(reply, command=cmd.name)

    # ------------------------------------------------------------------ read-only
    def _help(self, p, topic=None, **_):
        return Reply(*render.help_(topic))

    def _version(self, p, **_):
        return Reply(*render.version(self.service.version(bot_principal(p.channel))))

    def _status(self, p, **_):
        return Reply(*render.status(self.service.status(p)))

    def _checklist(self, p, **_):
        return Reply(*render.checklist(self.service.checklist(p)))

    def _whoami(self, p, **_):
        return Reply(*render.whoami(self.service.whoami(p)))

    def _errors(self, p, category=None, status=None, **_):
        page = self.service.list_errors(p, status=status or "open", category=category, limit=20)
        return Reply(*render.errors(page, category, status or "open"))

    def _error(self, p, error_id, **_):
        return Reply(*render.error_detail(self.service.get_error(p, error_id)))

    def _sync_status(self, p, prospect_id=None, crm_id=None, **_):
        if prospect_id is not None:
            return Reply(*render.sync_state(self.service.prospect_sync_state(p, prospect_id)))
        return Reply(*render.sync_state(self.service.crm_record_sync_state(p, crm_id)))

    def _job(self, p, job_id, **_):
        return Reply(*render.job_outcome(self.service.get_job(p, job_id)))

    # ------------------------------------------------------------------ jobs (answered now, reported later)
    def _queued(self, job: dict, follow_up: str) -> Reply:
        return Reply(*render.job_queued(job, follow_up), job=job)

    def _sync(self, p, prospect_id=None, email=None, notify=None, follow_up="", **_):
        job = self.service.sync_prospect(p, prospect_id=prospect_id, email=email, notify=notify)
        return self._queued(job, follow_up)

    def _send(self, p, sobject, crm_id, notify=None, follow_up="", **_):
        return self._queued(self.service.send_to_pardot(p, sobject, crm_id, notify=notify), follow_up)

    def _retry(self, p, error_id=None, category=None, notify=None, follow_up="", **_):
        job = self.service.retry_errors(p, error_id=error_id, category=category, notify=notify)
        return self._queued(job, follow_up)

    # ------------------------------------------------------------------ state changes
    def _dismiss(self, p, error_id, **_):
        e = self.service.dismiss_error(p, error_id)
        return Reply(*render.plain(f"Sync error #{e['id']} dismissed by {p.who}."))

    def _pause(self, p, reason=None, **_):
        return Reply(*render.paused(self.service.pause(p, reason)))

    def _resume(self, p, note=None, **_):
        r = self.service.request_reactivation(p, note)
        return Reply(*render.reactivation_filed(r, None), request=r)

    def _approve(self, p, request_id, **_):
        return Reply(*render.reactivation_decided(self.service.approve_reactivation(p, request_id)))

    def _deny(self, p, request_id, reason=None, **_):
        return Reply(*render.reactivation_decided(self.service.deny_reactivation(p, request_id, reason)))

    def _settings(self, p, key=None, value=None, **_):
        if key is None:
            return Reply(*render.settings(self.service.get_settings(p)))
        # The same service call as PATCH /api/v1/settings: its rules, its audit entry.
        return Reply(*render.settings(self.service.update_settings(p, {key: value}), changed=key))

    def _create(self, p, version=2, owner=None, engine="builtin", **_):
        return Reply(*render.created(self.service.create_connector(p, version=version, error_queue_owner=owner,
                                                                   engine=engine)))
