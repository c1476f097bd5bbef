"""Deterministic demo data for both orgs (random.Random(seed)); direct inserts, no API counting."""
from __future__ import annotations

import math
import random

ROLES = ("Administrator", "Marketing", "Sales Manager", "Sales")
FIXED_PEOPLE = (
    ("admin@sandbox.example", "Ada", "Admin", "Administrator"),
    ("admin2@sandbox.example", "Alan", "Admin", "Administrator"),
    ("marketing@sandbox.example", "Mia", "Marketing", "Marketing"),
    ("salesmgr@sandbox.example", "Sam", "Manager", "Sales Manager"),
    ("sales@sandbox.example", "Sara", "Sales", "Sales"),
)
DEFAULTS = {"seed": 1, "leads": 100, "contacts": 100, "person_accounts": 20, "prospects": 200, "users": 5,
            "campaigns": 5, "overlap": 0.3, "assigned": 0.5}
COUNT_KEYS = ("leads", "contacts", "person_accounts", "prospects", "users", "campaigns")
MAX_COUNT = 1_000_000

FIRST = ("Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karla", "Lukas",
         "Marie", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Simon", "Tina", "Uwe", "Vera", "Walter", "Xenia",
         "Yusuf", "Zoe", "Leon", "Mila", "Finn", "Lea")
LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
        "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Braun", "Zimmermann", "Krüger", "Hartmann",
        "Smith", "Jones", "Garcia", "Nguyen", "Rossi", "Dubois", "Kowalski", "Silva", "Tanaka", "Olsen")
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises",
             "Cyberdyne", "Soylent", "Tyrell", "Wonka", "Vandelay", "Massive Dynamic", "Aperture", "Oscorp")
TITLES = ("CEO", "CTO", "Marketing Manager", "Sales Director", "Engineer", "Analyst", "Consultant", None)
SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
GRADES = ("A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D", "F")
CAMPAIGN_TYPES = ("Conference", "Webinar", "Email", "Advertisement", "Direct Mail", "Other")


def _ascii(name: str) -> str:
    return name.lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")


def _params(raw: dict) -> dict:
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown seed parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(DEFAULTS)}")
    params = {**DEFAULTS, **raw}
    if not isinstance(params["seed"], int) or isinstance(params["seed"], bool):
        raise ValueError("seed must be an integer")
    for key in COUNT_KEYS:
        value = params[key]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
            raise ValueError(f"{key} must be an integer between 0 and {MAX_COUNT}")
    for key in ("overlap", "assigned"):
        value = params[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ValueError(f"{key} must be a fraction between 0 and 1")
    return params


def seed_orgs(runtime, raw: dict) -> dict:
    """Add deterministic data to both orgs; returns how many records of each kind were created."""
    p = _params(raw)
    rng = random.Random(p["seed"])
    sf, pardot = runtime.sf, runtime.pardot
    tag = f"s{p['seed']}"

    def person():
        return rng.choice(FIRST), rng.choice(LAST)

    def phone():
        return f"+49 30 {rng.randrange(1000000, 9999999)}"

    # People on both sides (same email): the fixed ones once, then `users` more.
    people = [fp for fp in FIXED_PEOPLE if not sf.by_email("User", fp[0], include_deleted=False)]
    for i in range(p["users"]):
        first, last = person()
        people.append((f"user{i}.{tag}@sandbox.example", first, last, ROLES[i % len(ROLES)]))
    sf_users = sf.insert_raw("User", [{"Username": e, "Email": e, "FirstName": f, "LastName": l, "IsActive": True}
                                      for e, f, l, _ in people], coerce_values=False)
    pardot.insert("users", [{"email": e, "firstName": f, "lastName": l, "role": r, "salesforceId": u["Id"]}
                            for (e, f, l, r), u in zip(people, sf_users)])
    owners = [u["Id"] for u in sf.rows("User") if u["IsActive"]]
    pardot_user_ids = [u["id"] for u in pardot.dump("users", include_deleted=False)]

    def base(i: int, kind: str) -> dict:
        first, last = person()
        return {"FirstName": first, "LastName": last,
                "Email": f"{_ascii(first)}.{_ascii(last)}.{kind}{i}.{tag}@example.com",
                "Phone": phone(), "Title": rng.choice(TITLES), "OwnerId": rng.choice(owners),
                "HasOptedOutOfEmail": rng.random() < 0.05}

    leads = []
    for i in range(p["leads"]):
        rec = base(i, "lead")
        rec.update(Company=rng.choice(COMPANIES), LeadSource=rng.choice(SOURCES), Status="Open - Not Contacted")
        leads.append(rec)
    sf.insert_raw("Lead", leads, coerce_values=False)

    n_accounts = math.ceil(p["contacts"] / 5)
    accounts = sf.insert_raw("Account", [
        {"Name": f"{rng.choice(COMPANIES)} {tag}-{i}", "Phone": phone(), "OwnerId": rng.choice(owners),
         "RecordTypeId": sf.business_account_record_type_id} for i in range(n_accounts)], coerce_values=False)
    contacts = []
    for i in range(p["contacts"]):
        rec = base(i, "contact")
        rec["AccountId"] = accounts[i // 5]["Id"]
        contacts.append(rec)
    sf.insert_raw("Contact", contacts, coerce_values=False)

    person_accounts = []
    for i in range(p["person_accounts"]):
        rec = base(i, "person")
        person_accounts.append({
            "RecordTypeId": sf.person_account_record_type_id, "IsPersonAccount": True,
            "FirstName": rec["FirstName"], "LastName": rec["LastName"], "PersonEmail": rec["Email"],
            "PersonTitle": rec["Title"], "Phone": rec["Phone"], "OwnerId": rec["OwnerId"],
            "PersonHasOptedOutOfEmail": rec["HasOptedOutOfEmail"]})
    sf.insert_raw("Account", person_accounts, coerce_values=False)

    campaigns = []
    for i in range(p["campaigns"]):
        campaigns.append({"Name": f"Campaign {tag}-{i}", "Type": rng.choice(CAMPAIGN_TYPES),
                          "Status": rng.choice(("Planned", "In Progress", "Completed")), "IsActive": True,
                          "OwnerId": rng.choice(owners)})
    sf.insert_raw("Campaign", campaigns, coerce_values=False)
    pardot.insert("campaigns", [{"name": c["Name"]} for c in campaigns])

    sf_emails = [r["Email"] for r in leads] + [r["Email"] for r in contacts] + \
                [r["PersonEmail"] for r in person_accounts]
    n_overlap = min(round(p["prospects"] * p["overlap"]), len(sf_emails)) if sf_emails else 0
    overlap_emails = rng.sample(sf_emails, n_overlap)
    prospects = []
    for i in range(p["prospects"]):
        first, last = person()
        email = overlap_emails[i] if i < n_overlap else f"{_ascii(first)}.{_ascii(last)}.prospect{i}.{tag}@example.org"
        prospects.append({
            "email": email, "firstName": first, "lastName": last, "company": rng.choice(COMPANIES),
            "jobTitle": rng.choice(TITLES), "phone": phone(), "optedOut": rng.random() < 0.05,
            "score": rng.randrange(0, 200), "grade": rng.choice(GRADES),
            "assignedToId": rng.choice(pardot_user_ids) if pardot_user_ids and rng.random() < p["assigned"] else None,
        })
    pardot.insert("prospects", prospects)
    return {"seed": p["seed"], "users": len(people), "leads": len(leads), "contacts": len(contacts),
            "accounts": n_accounts, "person_accounts": len(person_accounts), "campaigns": len(campaigns),
            "prospects": len(prospects), "overlapping_prospects": n_overlap}
