"""Metadata sync, the first step of every cycle (R4), paused or not (R5):
Salesforce users ↔ Pardot users by email, Salesforce campaigns ↔ Pardot campaigns."""
from __future__ import annotations

from typing import Iterator

from sqlalchemy import select

from .ingest import chunks
from .models import CampaignMatch, UserMatch
from .records import parse_datetime
from .upsert import upsert

SF_USER_SOQL = "SELECT Id, Username, Email, IsActive, SystemModstamp FROM User"
SF_CAMPAIGN_SOQL = "SELECT Id, Name, SystemModstamp FROM Campaign"
PARDOT_USER_FIELDS = ["id", "email", "roleName", "salesforceId", "isDeleted", "updatedAt"]
PARDOT_CAMPAIGN_FIELDS = ["id", "name", "salesforceId", "isDeleted", "updatedAt"]


def sync_sf_users(s, connector_id: int, users: Iterator[dict]):
    newest = None
    for page in chunks(users):
        emails = {(u.get("Email") or "").lower() for u in page if u.get("Email")}
        existing = {m.email: m for m in s.scalars(select(UserMatch).where(
            UserMatch.connector_id == connector_id, UserMatch.email.in_(emails)))}
        rows = []
        for u in page:
            email = (u.get("Email") or "").lower()
            if not email:
                continue
            old = existing.get(email)
            rows.append({"connector_id": connector_id, "email": email,
                         "pardot_user_id": old.pardot_user_id if old else None,
                         "pardot_role": old.pardot_role if old else None,
                         "salesforce_user_id": u["Id"], "salesforce_active": bool(u.get("IsActive")),
                         "salesforce_username": u.get("Username")})
        upsert(s, UserMatch, _dedupe(rows), ("connector_id", "email"))
        top = max(parse_datetime(u["SystemModstamp"]) for u in page)
        newest = top if newest is None or top > newest else newest
    return newest


def sync_pardot_users(s, connector_id: int, users: Iterator[dict]):
    newest = None
    for page in chunks(users):
        emails = {(u.get("email") or "").lower() for u in page if u.get("email")}
        existing = {m.email: m for m in s.scalars(select(UserMatch).where(
            UserMatch.connector_id == connector_id, UserMatch.email.in_(emails)))}
        rows = []
        for u in page:
            email = (u.get("email") or "").lower()
            if not email:
                continue
            old = existing.get(email)
            deleted = bool(u.get("isDeleted"))
            rows.append({"connector_id": connector_id, "email": email,
                         "pardot_user_id": None if deleted else int(u["id"]),
                         "pardot_role": None if deleted else u.get("roleName"),
                         "salesforce_user_id": old.salesforce_user_id if old else None,
                         "salesforce_active": old.salesforce_active if old else False,
                         "salesforce_username": old.salesforce_username if old else None})
        upsert(s, UserMatch, _dedupe(rows), ("connector_id", "email"))
        top = max(parse_datetime(u["updatedAt"]) for u in page)
        newest = top if newest is None or top > newest else newest
    return newest


def sync_campaigns(s, connector_id: int, sf_campaigns: Iterator[dict], pardot_campaigns: Iterator[dict]):
    """Pardot campaigns link to Salesforce campaigns by salesforceId, else by name."""
    by_name = {}
    sf_newest = None
    for c in sf_campaigns:
        by_name[(c.get("Name") or "").strip().lower()] = c["Id"]
        stamp = parse_datetime(c["SystemModstamp"])
        sf_newest = stamp if sf_newest is None or stamp > sf_newest else sf_newest
    p_newest = None
    for page in chunks(pardot_campaigns):
        rows = []
        for c in page:
            if c.get("isDeleted"):
                continue
            sf_id = c.get("salesforceId") or by_name.get((c.get("name") or "").strip().lower())
            rows.append({"connector_id": connector_id, "pardot_campaign_id": int(c["id"]),
                         "name": c.get("name") or "", "salesforce_campaign_id": sf_id})
        upsert(s, CampaignMatch, rows, ("connector_id", "pardot_campaign_id"))
        top = max(parse_datetime(c["updatedAt"]) for c in page)
        p_newest = top if p_newest is None or top > p_newest else p_newest
    if by_name:  # Salesforce campaigns renamed or created since: link waiting Pardot ones by name
        for m in s.scalars(select(CampaignMatch).where(CampaignMatch.connector_id == connector_id,
                                                       CampaignMatch.salesforce_campaign_id.is_(None))):
            m.salesforce_campaign_id = by_name.get(m.name.strip().lower())
    return sf_newest, p_newest


def _dedupe(rows: list[dict]) -> list[dict]:
    return list({r["email"]: r for r in rows}.values())
