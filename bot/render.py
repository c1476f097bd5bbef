"""Service results → chat output: plain text (the shell, notification fallbacks) and Block Kit.

Every function returns (text, blocks); blocks may be None where plain text says it all."""
from __future__ import annotations

import json

from . import grammar

SECTION_LIMIT = 2900  # Slack refuses section text over 3000 characters
MARK = {"pass": "✓", "warn": "!", "fail": "✗"}
EMOJI = {"pass": ":white_check_mark:", "warn": ":warning:", "fail": ":x:"}
KIND_LABEL = {"sync_prospect": "Sync with CRM", "send_to_pardot": "Send to Pardot", "retry_errors": "Retry",
              "create_crm_id_field": "Create the CRM id field"}
STATE_LABEL = {"linked": "linked", "in_error": "in error", "deleted": "deleted", "paused": "paused",
               "pending": "pending", "unassigned_no_match": "unassigned, no match", "not_linked": "not linked",
               "unknown": "unknown"}

# Button action ids; the listeners in bot/listeners/actions.py answer them.
RETRY, RETRY_CATEGORY, DISMISS, VIEW = "error_retry", "error_retry_category", "error_dismiss", "error_view"
APPROVE, DENY = "reactivation_approve", "reactivation_deny"


def section(text: str) -> dict:
    if len(text) > SECTION_LIMIT:
        text = text[:SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_LIMIT]}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    b = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": value}
    if style:
        b["style"] = style
    return b


def channel_link(channel: str | None) -> str | None:
    """A channel id becomes a Slack link; a name (#ops) or user stays as typed."""
    if channel and channel[:1] in "CGD" and channel.isalnum():
        return f"<#{channel}>"
    return channel


def plain(text: str) -> tuple[str, list]:
    return text, [section(text)]


# ---------------------------------------------------------------------- parse errors, refusals
def parse_error(err: grammar.ParseError) -> tuple[str, list]:
    if err.spec is None:
        text = f"{err.message} Try `help` for the list of commands."
    elif err.suggestion:
        text = f"{err.message} Did you mean `{err.spec.name}`?\nUsage: `{err.spec.usage}` - {err.spec.summary}"
    else:
        text = f"{err.message}\nUsage: `{err.spec.usage}` - {err.spec.summary}"
    return plain(text)


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 error`, `2 errors`, `0 errors`."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def refused(command: str, needed_role: str, role: str, role_source: str) -> tuple[str, list]:
    """Names the command as typed, the role it needs and where the asker's role came from (R33)."""
    return plain(f"Refused: '{command}' needs the {needed_role} role; you are {role} "
                 f"(your role comes from: {role_source or 'unknown'}).")


def not_found(message: str) -> tuple[str, list]:
    return plain(f"Not found: {message}.")


def failed(message: str, details: dict | None) -> tuple[str, list]:
    lines = [f"Could not do that: {message}"]
    shown = {k: v for k, v in (details or {}).items() if isinstance(v, str) and v not in message}
    lines += [f"  {k}: {v}" for k, v in shown.items()]
    return plain("\n".join(lines))


# ---------------------------------------------------------------------- read-only answers
def native_line(block: dict | None, warnings: int | None) -> str | None:
    """Salesforce's own connector as Pardot's Connector API shows it (R36), when the service gives it."""
    if not block:
        return None
    if not block.get("present"):
        return f"Salesforce's connector: unknown: {block.get('error') or 'not found'}"
    state = "PAUSED" if block.get("paused") else "running"
    verified = "verified" if block.get("verified") else "NOT verified"
    return (f"Salesforce's connector {block.get('name') or ''} v{block.get('version')}: {state}, {verified}, "
            f"last synced {block.get('last_synced_at') or 'never'}; open sync warnings: {warnings or 0}")


def version(v: dict) -> tuple[str, list]:
    engine = f" on engine {v['engine']}" if v.get("engine") else ""
    text = (f"Connector version {v['connector_version']} for business unit {v['business_unit_id']}{engine} "
            f"(pardot-connector {v['app_version']}).")
    line = native_line(v.get("salesforce_connector"), v.get("sync_warnings"))
    return plain(text + (f"\n{line}" if line else ""))


def _state_line(st: dict) -> str:
    line = f"State: *{st['state'].upper()}* since {st.get('state_since') or '?'}"
    paused = st.get("paused")
    if st["state"] == "paused" and paused:
        line += f", paused by {paused.get('by') or '?'}"
        if paused.get("reason"):
            line += f" ({paused['reason']})"
    if st.get("state_reason"):
        line += f"\nReason: {st['state_reason']}"
    return line


def cycle_line(c: dict | None) -> str:
    if not c:
        return "no cycle has run yet"
    took = f", {c['duration_seconds']} s" if c.get("duration_seconds") is not None else ", running"
    text = f"#{c['id']} {c.get('outcome') or 'running'} at {c['started_at']}{took}, " + _records_moved(c)
    if c.get("error"):
        text += f" ({c['error']})"
    return text


def _records_moved(c: dict) -> str:
    health = (c.get("counts") or {}).get("health")
    if health is not None:  # a sync-health check of Salesforce's connector (R38)
        return (f"health check: {health.get('read', 0)} changed prospects read, {health.get('pending', 0)} out of "
                f"sync, {health.get('new', 0)} new warnings, {health.get('resolved', 0)} resolved")
    if not c.get("prospects_synced"):
        return "metadata only (paused: no prospect record synced, R5)"
    counts = c.get("counts") or {}

    def written(direction: str) -> int:
        return sum(v for k, v in (counts.get(direction) or {}).items()
                   if k in ("created", "updated", "linked", "deleted", "restored", "relinked", "outside_mds"))

    failed = sum((counts.get(d) or {}).get("failed", 0) for d in ("salesforce_to_pardot", "pardot_to_salesforce"))
    text = f"{plural(written('salesforce_to_pardot'), 'record')} to Pardot, {written('pardot_to_salesforce')} to Salesforce"
    return text + (f", {failed} failed" if failed else "")


def open_errors_line(st: dict) -> str:
    cats = {k: v for k, v in (st.get("open_errors") or {}).items() if v}
    if not cats:
        return "Open errors: none"
    return f"Open errors: {st['open_errors_total']} (" + ", ".join(f"{k} {v}" for k, v in cats.items()) + ")"


def status(st: dict) -> tuple[str, list]:
    lines = [f"Connector v{st['connector_version']} for business unit {st['business_unit_id']} "
             f"(pardot-connector {st['app_version']})",
             _state_line(st),
             *([native_line(st.get("salesforce_connector"), st.get("sync_warnings"))]
               if st.get("salesforce_connector") else []),
             f"Last cycle: {cycle_line(st.get('last_cycle'))}",
             f"Next cycle: {st.get('next_cycle') or 'not scheduled'} (every {st['poll_interval']} s)",
             f"Backlog: {st.get('backlog', 0)}",
             open_errors_line(st)]
    if st.get("pending_reactivations"):
        lines.append(f"Pending reactivation requests: {st['pending_reactivations']}")
    for side, usage in (st.get("api_usage") or {}).items():
        if isinstance(usage, dict) and usage.get("max"):
            lines.append(f"API {side}: {usage.get('used_by_connector', 0)} used by the connector today, "
                         f"{usage.get('remaining', '?')} left of its share (org max {usage['max']})")
    lines.append(f"Error queue owner: {st.get('error_queue_owner') or 'not set'}")
    return plain("\n".join(lines))


def checklist_lines(cl: dict, emoji: bool = False) -> list[str]:
    marks = EMOJI if emoji else MARK
    return [f"{marks.get(i['result'], '?')} {i['title']}: {i['reason']}" for i in cl.get("items", [])]


def checklist(cl: dict) -> tuple[str, list]:
    head = "Pre-reactivation checklist: " + ("passes" if cl.get("passed") else "FAILS")
    text = head + "\n" + "\n".join(checklist_lines(cl))
    return text, [section(f"*{head}*\n" + "\n".join(checklist_lines(cl, emoji=True)))]


def error_line(e: dict) -> str:
    record = e.get("crm_id") or (f"prospect {e['prospect_id']}" if e.get("prospect_id") else "?")
    who = f" {e['email']}" if e.get("email") else ""
    return (f"#{e['id']} {e['category']} {e['direction']} {e['object']} {record}{who}: {e['message']} "
            f"({e['status']}, {plural(e['attempts'], 'attempt')})")


def error_buttons(e: dict) -> dict:
    return {"type": "actions", "elements": [button("Retry", RETRY, str(e["id"]), "primary"),
                                            button("Dismiss", DISMISS, str(e["id"])),
                                            button("View", VIEW, str(e["id"]))]}


def errors(page: dict, category: str | None, status_word: str | None) -> tuple[str, list]:
    items = page.get("items", [])
    what = " ".join(w for w in (status_word if status_word not in (None, "all") else None, category) if w)
    if not items:
        return plain(f"No {what + ' ' if what else ''}sync errors.")
    more = " (newest first; more exist)" if page.get("next_cursor") else ""
    head = f"{plural(len(items), (what + ' ' if what else '') + 'sync error')}{more}:"
    text = head + "\n" + "\n".join(error_line(e) for e in items)
    return text, [section(text)]


def error_detail(e: dict) -> tuple[str, list]:
    fields = [("direction", e["direction"]), ("object", e["object"]), ("prospect", e.get("prospect_id")),
              ("Salesforce id", e.get("crm_id")), ("email", e.get("email")), ("category", e["category"]),
              ("code", e.get("code")), ("status", e["status"]), ("attempts", e["attempts"]),
              ("first seen", e.get("first_seen")), ("last seen", e.get("last_seen")),
              ("next retry", e.get("next_retry_at"))]
    text = f"Sync error #{e['id']}: {e['message']}\n" + "\n".join(f"  {k}: {v}" for k, v in fields if v is not None)
    blocks = [section(text)]
    if e["status"] in ("open", "retrying"):
        blocks.append({"type": "actions", "elements": [button("Retry", RETRY, str(e["id"]), "primary"),
                                                       button("Dismiss", DISMISS, str(e["id"]))]})
    return text, blocks


def sync_state(st: dict) -> tuple[str, list]:
    """One record's sync state (issue 9 item 3): link, state, last sync each way, open errors."""
    rec, linked = st["record"], st.get("linked_record")
    lines = [f"{rec['type']} {rec['id']}: *{STATE_LABEL.get(st['state'], st['state'])}*: {st['reason']}",
             f"  linked to: {linked['type']} {linked['id']}" if linked else "  linked to: nothing",
             f"  last sync to Pardot: {st.get('last_synced_to_pardot') or 'never'}",
             f"  last sync to Salesforce: {st.get('last_synced_to_salesforce') or 'never'}"]
    if st.get("pending") and st["state"] != "pending":
        lines.append("  a change is waiting for the next cycle")
    errors = st.get("open_errors") or []
    for e in errors:
        lines.append(f"  open error #{e['id']} {e['category']} ({e['direction']}): {e['message']}")
    text = "\n".join(lines)
    blocks = [section(text)]
    if errors:
        blocks.append({"type": "actions", "elements": [button("Retry", RETRY, str(errors[0]["id"]), "primary"),
                                                       button("View", VIEW, str(errors[0]["id"]))]})
    return text, blocks


def whoami(w: dict) -> tuple[str, list]:
    return plain(f"You are {w['who']}, role *{w['role']}* ({w['source'] or 'no source'}), via {w['channel']}.")


def help_(topic: str | None) -> tuple[str, list]:
    text = grammar.help_text(topic)
    return text, [section(text if topic else "```" + text + "```")]


def settings(values: dict, changed: str | None = None) -> tuple[str, list]:
    head = f"Setting `{changed}` is now {json.dumps(values.get(changed))}." if changed else "Settings:"
    lines = [f"  {key}: {json.dumps(value)}" for key, value in values.items()]
    return plain(head + "\n" + "\n".join(lines) + "\nChange one with `settings KEY VALUE` (admin).")


# ---------------------------------------------------------------------- jobs
def job_target(job: dict) -> str:
    p = job.get("params") or {}
    if job["kind"] == "sync_prospect":
        return f"prospect {p['prospect_id']}" if p.get("prospect_id") else f"prospect {p.get('email')}"
    if job["kind"] == "send_to_pardot":
        return f"{p.get('sobject')} {p.get('crm_id')}"
    if job["kind"] == "create_crm_id_field":
        return f"custom field {p.get('field_id')}"
    if p.get("error_id"):
        return f"sync error #{p['error_id']}"
    return f"open {p.get('category')} errors"


def job_queued(job: dict, follow_up: str) -> tuple[str, list]:
    label = KIND_LABEL.get(job["kind"], job["kind"])
    return plain(f"{label} for {job_target(job)} is {job['state']} as job `{job['id']}`. {follow_up}")


def job_outcome(job: dict) -> tuple[str, list]:
    label = KIND_LABEL.get(job["kind"], job["kind"])
    target = job_target(job)
    o = job.get("outcome") or {}
    if job["state"] in ("queued", "started"):
        return plain(f"{label} for {target} (job `{job['id']}`) is {job['state']}.")
    if o.get("ok", job["state"] == "finished"):
        if job["kind"] == "retry_errors":
            return plain(f":white_check_mark: {label} of {target} done: {o.get('resolved', 0)} of "
                         f"{o.get('retried', 0)} resolved.")
        ids = []
        if o.get("prospect_id") is not None:
            ids.append(f"prospect {o['prospect_id']}")
        if o.get("crm_id"):
            ids.append(f"{o.get('crm_type') or 'Salesforce record'} {o['crm_id']}")
        linked = " ↔ ".join(ids) or "nothing to link"
        return plain(f":white_check_mark: {label} for {target} done: {linked} ({o.get('action', 'synced')}).")
    if o.get("code") == "NOT_FOUND":  # a mistyped or unknown id: nothing was deleted
        return plain(f":x: {label} for {target} failed: not found: {o.get('message', 'no such record')}")
    code = f" ({o['code']})" if o.get("code") else ""
    return plain(f":x: {label} for {target} failed: {o.get('category', 'unknown')}{code}: "
                 f"{o.get('message', 'no message')}")


# ---------------------------------------------------------------------- reactivation requests
def request_summary(r: dict) -> str:
    note = f": {r['note']}" if r.get("note") else ""
    return f"Reactivation request #{r['id']} by {r['requested_by']} (via {r['requested_via']}){note}"


def reactivation_filed(r: dict, where: str | None) -> tuple[str, list]:
    asked = f" Approval asked in {where}." if where else ""
    return plain(f"{request_summary(r)} is pending until {r['expires_at']}. A different admin approves it "
                 f"(`approve {r['id']}`) or denies it (`deny {r['id']} REASON`).{asked}")


def reactivation_message(r: dict) -> tuple[str, list]:
    """The approval message: Approve/Deny while pending, the decision afterwards."""
    cl = r.get("checklist") or {}
    head = request_summary(r)
    items = "\n".join(checklist_lines(cl, emoji=True)) or "(no checklist recorded)"
    verdict = "passes" if cl.get("passed") else "FAILS"
    blocks = [section(f"*{head}*"), section(f"*Checklist {verdict}*\n{items}")]
    if r["status"] == "pending":
        blocks.append(context(f"Only an admin other than {r['requested_by']} may decide. "
                              f"Expires {r['expires_at']}."))
        blocks.append({"type": "actions", "elements": [
            button("Approve", APPROVE, str(r["id"]), "primary"), button("Deny", DENY, str(r["id"]), "danger")]})
        text = f"{head}: pending approval"
    else:
        text = f"{head}: {decision(r)}"
        blocks.append(section(decision(r)))
    return text, blocks


def decision(r: dict) -> str:
    outcome = r.get("outcome") or {}
    if r["status"] == "approved" and outcome.get("unpause") == "failed":
        return (f":x: Approved by {r['decided_by']} at {r['decided_at']}, but unpausing Salesforce's connector "
                f"failed: {outcome.get('reason')}")
    if r["status"] == "approved" and outcome.get("unpause") in ("queued", "calling"):
        return f":hourglass: Approved by {r['decided_by']} at {r['decided_at']}; unpausing Salesforce's connector…"
    if r["status"] == "approved":
        return f":white_check_mark: Approved by {r['decided_by']} at {r['decided_at']}; the connector resumes."
    if r["status"] == "denied":
        return f":no_entry: Denied by {r['decided_by']} at {r['decided_at']}: {r.get('reason') or 'no reason given'}"
    if r["status"] == "expired":
        return f":hourglass: Expired at {r.get('decided_at') or r['expires_at']} without a decision."
    return f"Status: {r['status']}"


def reactivation_decided(r: dict) -> tuple[str, list]:
    return plain(f"{request_summary(r)}: {decision(r)}")


def paused(st: dict) -> tuple[str, list]:
    note = st.get("notice") or "Connector paused. Manual syncs still work; `resume` requests reactivation."
    return plain(note + "\n" + _state_line(st))


def created(st: dict) -> tuple[str, list]:
    engine = f" (engine {st['engine']})" if st.get("engine") else ""
    text = (f"Connector v{st['connector_version']} created for business unit {st['business_unit_id']}{engine}.\n"
            + _state_line(st) + "\nThe first cycle verifies the credentials; then see `checklist`.")
    if st.get("notice"):
        text += f"\n:bulb: {st['notice']}"
    return plain(text)


# ---------------------------------------------------------------------- notifications
def error_notification(category: str, count: int, samples: list[dict], since: str) -> tuple[str, list]:
    noun = "error" if count == 1 else "errors"
    head = f":rotating_light: {count} new *{category}* sync {noun} since {since}"
    text = f"{count} new {category} sync {noun} since {since}"
    blocks = [section(head)]
    for e in samples:
        blocks.append(section(error_line(e)))
        blocks.append(error_buttons(e))
    if count > len(samples):
        blocks.append(context(f"Showing {len(samples)} of {count}. `errors {category}` lists them all."))
    if count > 1:
        blocks.append({"type": "actions", "elements": [
            button(f"Retry all open {category} errors", RETRY_CATEGORY, category)]})
    return text, blocks


def connector_event(event: str, payload: dict) -> tuple[str, list] | None:
    if event == "connector_state":
        state = payload.get("state")
        reason = payload.get("reason") or "no reason given"
        if state == "active":
            return plain(f":large_green_circle: The connector recovered: {payload.get('previous')} → active.")
        icon = ":warning:" if state == "throttled" else ":red_circle:"
        why = {"throttled": "an API budget is spent; it waits and resumes by itself",
               "degraded": "Salesforce or Pardot keeps failing or hanging; every cycle retries and "
                           "you are told when it recovers",
               "error": "it stopped syncing (credentials or limits)"}.get(state, state)
        return plain(f"{icon} The connector is *{state}*: {why}.\nReason: {reason}")
    if event == "sync_errors_resolved":
        errors = payload.get("errors") or []
        lines = [f"#{e['id']} {e['category']} {e['object']} "
                 f"{e.get('crm_id') or ('prospect ' + str(e['prospect_id']) if e.get('prospect_id') else '')}".rstrip()
                 for e in errors[:5]]
        more = f" and {len(errors) - 5} more" if len(errors) > 5 else ""
        noun = "warning" if len(errors) == 1 else "warnings"
        return plain(f":white_check_mark: {len(errors)} sync {noun} resolved by themselves (the condition "
                     f"cleared): " + "; ".join(lines) + more)
    if event == "paused":
        reason = f": {payload['reason']}" if payload.get("reason") else ""
        note = payload.get("note") or "Manual syncs still work; `resume` requests reactivation."
        return plain(f":double_vertical_bar: The connector was paused by {payload.get('by')}{reason}. {note}")
    return None
