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
    return _Seeder(runtime, _params(raw)).run()


class _Seeder:
    """One seeding run; the steps draw from one RNG in a fixed order (same seed, same data)."""

    def __init__(self, runtime, params: dict):
        self.p = params
        self.rng = random.Random(params["seed"])
        self.sf, self.pardot = runtime.sf, runtime.pardot
        self.tag = f"s{params['seed']}"

    def run(self) -> dict:
        people = self.users()
        self.owners = [u["Id"] for u in self.sf.rows("User") if u["IsActive"]]
        self.pardot_user_ids = [u["id"] for u in self.pardot.dump("users", include_deleted=False)]
        leads = self.leads()
        n_accounts, contacts = self.contacts()
        person_accounts = self.person_accounts()
        campaigns = self.campaigns()
        sf_emails = [r["Email"] for r in leads] + [r["Email"] for r in contacts] + \
                    [r["PersonEmail"] for r in person_accounts]
        prospects, n_overlap = self.prospects(sf_emails)
        return {"seed": self.p["seed"], "users": len(people), "leads": len(leads), "contacts": len(contacts),
                "accounts": n_accounts, "person_accounts": len(person_accounts), "campaigns": len(campaigns),
                "prospects": len(prospects), "overlapping_prospects": n_overlap}

    def person(self):
        return self.rng.choice(FIRST), self.rng.choice(LAST)

    def phone(self):
        return f"+49 30 {self.rng.randrange(1000000, 9999999)}"

    def base(self, i: int, kind: str) -> dict:
        first, last = self.person()
        rng = self.rng
        return {"FirstName": first, "LastName": last,
                "Email": f"{_ascii(first)}.{_ascii(last)}.{kind}{i}.{self.tag}@example.com",
                "Phone": self.phone(), "Title": rng.choice(TITLES), "OwnerId": rng.choice(self.owners),
                "HasOptedOutOfEmail": rng.random() < 0.05}

    def users(self) -> list[tuple]:
        """People on both sides (same email): the fixed ones once, then `users` more."""
        sf = self.sf
        people = [fp for fp in FIXED_PEOPLE if not sf.by_email("User", fp[0], include_deleted=False)]
        for i in range(self.p["users"]):
            first, last = self.person()
            people.append((f"user{i}.{self.tag}@sandbox.example", first, last, ROLES[i % len(ROLES)]))
        sf_users = sf.insert_raw("User", [{"Username": e, "Email": e, "FirstName": f, "LastName": l,
                                           "IsActive": True} for e, f, l, _ in people], coerce_values=False)
        self.pardot.insert("users", [{"email": e, "firstName": f, "lastName": l, "role": r, "salesforceId": u["Id"]}
                                     for (e, f, l, r), u in zip(people, sf_users)])
        return people

    def leads(self) -> list[dict]:
        rng, leads = self.rng, []
        for i in range(self.p["leads"]):
            rec = self.base(i, "lead")
            rec.update(Company=rng.choice(COMPANIES), LeadSource=rng.choice(SOURCES), Status="Open - Not Contacted")
            leads.append(rec)
        self.sf.insert_raw("Lead", leads, coerce_values=False)
        return leads

    def contacts(self) -> tuple[int, list[dict]]:
        rng, sf = self.rng, self.sf
        n_accounts = math.ceil(self.p["contacts"] / 5)
        accounts = sf.insert_raw("Account", [
            {"Name": f"{rng.choice(COMPANIES)} {self.tag}-{i}", "Phone": self.phone(),
             "OwnerId": rng.choice(self.owners), "RecordTypeId": sf.business_account_record_type_id}
            for i in range(n_accounts)], coerce_values=False)
        contacts = []
        for i in range(self.p["contacts"]):
            rec = self.base(i, "contact")
            rec["AccountId"] = accounts[i // 5]["Id"]
            contacts.append(rec)
        sf.insert_raw("Contact", contacts, coerce_values=False)
        return n_accounts, contacts

    def person_accounts(self) -> list[dict]:
        person_accounts = []
        for i in range(self.p["person_accounts"]):
            rec = self.base(i, "person")
            person_accounts.append({
                "RecordTypeId": self.sf.person_account_record_type_id, "IsPersonAccount": True,
                "FirstName": rec["FirstName"], "LastName": rec["LastName"], "PersonEmail": rec["Email"],
                "PersonTitle": rec["Title"], "Phone": rec["Phone"], "OwnerId": rec["OwnerId"],
                "PersonHasOptedOutOfEmail": rec["HasOptedOutOfEmail"]})
        self.sf.insert_raw("Account", person_accounts, coerce_values=False)
        return person_accounts

    def campaigns(self) -> list[dict]:
        rng, campaigns = self.rng, []
        for i in range(self.p["campaigns"]):
            campaigns.append({"Name": f"Campaign {self.tag}-{i}", "Type": rng.choice(CAMPAIGN_TYPES),
                              "Status": rng.choice(("Planned", "In Progress", "Completed")), "IsActive": True,
                              "OwnerId": rng.choice(self.owners)})
        self.sf.insert_raw("Campaign", campaigns, coerce_values=False)
        self.pardot.insert("campaigns", [{"name": c["Name"]} for c in campaigns])
        return campaigns

    def prospects(self, sf_emails: list[str]) -> tuple[list[dict], int]:
        rng, p, assignees = self.rng, self.p, self.pardot_user_ids
        n_overlap = min(round(p["prospects"] * p["overlap"]), len(sf_emails)) if sf_emails else 0
        overlap_emails = rng.sample(sf_emails, n_overlap)
        prospects = []
        for i in range(p["prospects"]):
            first, last = self.person()
            email = (overlap_emails[i] if i < n_overlap
                     else f"{_ascii(first)}.{_ascii(last)}.prospect{i}.{self.tag}@example.org")
            prospects.append({
                "email": email, "firstName": first, "lastName": last, "company": rng.choice(COMPANIES),
                "jobTitle": rng.choice(TITLES), "phone": self.phone(), "optedOut": rng.random() < 0.05,
                "score": rng.randrange(0, 200), "grade": rng.choice(GRADES),
                "assignedToId": rng.choice(assignees) if assignees and rng.random() < p["assigned"] else None,
            })
        self.pardot.insert("prospects", prospects)
        return prospects, n_overlap
