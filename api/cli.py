"""Break-glass CLI (works when Slack is down): the same service calls as the API.

    FLASK_APP=app:create_app flask tokens create --name ci --role operator
    FLASK_APP=app:create_app flask connector status

The caller acts as "cli:<os user>" with the admin role: whoever can run this on the
server already holds the database credentials."""
from __future__ import annotations

import getpass
import json

import click
from flask import current_app
from flask.cli import AppGroup

from sync.errors import ServiceError
from sync.roles import ROLES, Principal

tokens = AppGroup("tokens", help="Create, list and revoke API tokens (R32).")
connector = AppGroup("connector", help="Operate the connector without Slack or HTTP.")


def cli_principal() -> Principal:
    return Principal(f"cli:{getpass.getuser()}", "admin", "cli", "server shell")


def _call(method: str, *args, **kwargs):
    service = current_app.extensions["connector"].service()
    try:
        result = getattr(service, method)(cli_principal(), *args, **kwargs)
    except ServiceError as exc:
        details = "".join(f"\n  {k}: {v}" for k, v in exc.details.items() if k != "needed_role")
        raise click.ClickException(f"{exc.message}{details}") from None
    click.echo(json.dumps(result, indent=2, default=str))
    return result


# ---------------------------------------------------------------------- tokens
@tokens.command("create")
@click.option("--name", required=True, help="a unique name: letters, digits, '-', '_' or '.'")
@click.option("--role", required=True, type=click.Choice(ROLES), help="what the token may do (R32)")
def tokens_create(name: str, role: str):
    """Create a token; the secret is shown once and stored only hashed."""
    result = _call("create_token", name, role)
    click.echo("Store the token now: it is not shown again.", err=True)
    return result


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str):
    """Revoke the token NAME at once."""
    _call("revoke_token", name)


@tokens.command("list")
def tokens_list():
    """Token names, roles and prefixes (never the secrets)."""
    _call("list_tokens")


# ---------------------------------------------------------------------- connector
@connector.command("status")
def status():
    _call("status")


@connector.command("version")
def version():
    _call("version")


@connector.command("checklist")
def checklist():
    _call("checklist")


@connector.command("create")
@click.option("--version", "version_", type=click.Choice(["1", "2"]), default="2", show_default=True)
@click.option("--connector-user", default="integration", show_default=True)
@click.option("--ampsea/--no-ampsea", default=False, show_default=True)
@click.option("--error-queue-owner", default=None, help="Slack channel or user who monitors sync errors")
@click.option("--engine", type=click.Choice(["builtin", "salesforce"]), default="builtin", show_default=True,
              help="salesforce: operate Salesforce's own connector v2 instead of syncing (R35)")
def create(version_: str, connector_user: str, ampsea: bool, error_queue_owner: str | None, engine: str):
    _call("create_connector", version=int(version_), connector_user=connector_user, ampsea=ampsea,
          error_queue_owner=error_queue_owner, engine=engine)


@connector.command("pause")
@click.option("--reason", default=None)
def pause(reason: str | None):
    _call("pause", reason)


@connector.command("request-reactivation")
@click.option("--note", default=None)
def request_reactivation(note: str | None):
    _call("request_reactivation", note)


@connector.command("reactivations")
@click.option("--status", type=click.Choice(["pending", "approved", "denied", "expired"]), default=None)
def reactivations(status: str | None):
    _call("list_reactivations", status)


@connector.command("approve")
@click.argument("request_id", type=int)
def approve(request_id: int):
    _call("approve_reactivation", request_id)


@connector.command("deny")
@click.argument("request_id", type=int)
@click.option("--reason", default=None)
def deny(request_id: int, reason: str | None):
    _call("deny_reactivation", request_id, reason)


@connector.command("errors")
@click.option("--status", default="open", show_default=True, help="open, retrying, resolved, dismissed or all")
@click.option("--category", default=None)
@click.option("--object", "sobject", default=None)
@click.option("--since", default=None, help="ISO 8601 date-time")
@click.option("--cursor", default=None)
@click.option("--limit", type=int, default=50, show_default=True)
def errors(status, category, sobject, since, cursor, limit):
    _call("list_errors", status=status, category=category, sobject=sobject, since=since, cursor=cursor, limit=limit)


@connector.command("retry")
@click.argument("error_id", type=int, required=False)
@click.option("--category", default=None, help="retry every open error of this category instead")
def retry(error_id: int | None, category: str | None):
    """Retry one sync error, or all open errors of a category; runs as a job."""
    _call("retry_errors", error_id=error_id, category=category)


@connector.command("dismiss")
@click.argument("error_id", type=int)
def dismiss(error_id: int):
    _call("dismiss_error", error_id)


@connector.command("sync-prospect")
@click.argument("prospect", metavar="PROSPECT_ID_OR_EMAIL")
def sync_prospect(prospect: str):
    """"Sync with CRM" for one prospect (R6); runs as a job."""
    if "@" in prospect:
        _call("sync_prospect", email=prospect)
    else:
        _call("sync_prospect", prospect_id=prospect)


@connector.command("send")
@click.argument("sobject", metavar="OBJECT", type=click.Choice(["Lead", "Contact", "Account"], case_sensitive=False))
@click.argument("crm_id", metavar="ID")
def send(sobject: str, crm_id: str):
    """"Send to Pardot" for a lead, contact or person account (R6); runs as a job."""
    _call("send_to_pardot", sobject, crm_id)


@connector.command("job")
@click.argument("job_id")
def job(job_id: str):
    _call("get_job", job_id)


@connector.command("audit")
@click.option("--cursor", default=None)
@click.option("--limit", type=int, default=50, show_default=True)
def audit(cursor: str | None, limit: int):
    _call("audit_log", cursor=cursor, limit=limit)


@connector.command("sync-status")
@click.argument("record_id", metavar="PROSPECT_ID_OR_SALESFORCE_ID")
def sync_status(record_id: str):
    """One record's link, sync state, last sync each way and open errors (issue 9 item 3)."""
    if record_id.strip().isdigit():
        _call("prospect_sync_state", record_id)
    else:
        _call("crm_record_sync_state", record_id)


@connector.command("create-crm-id-field")
def create_crm_id_field():
    """Create the custom prospect field named by the crm_id_field setting in Pardot; runs as a job."""
    _call("create_crm_id_field")
