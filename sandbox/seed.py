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


ASCII = {name: _ascii(name) for name in FIRST + LAST}
CHUNK = 20_000  # records generated and inserted at a time: a 1,000,000-record seed never holds them all twice


def _picker(rng: random.Random):
    """(pick, below): rng.choice(seq) and rng.randrange(n) with the very same draws (CPython's
    _randbelow_with_getrandbits), in one Python call instead of three: a seed makes millions."""
    getrandbits = rng.getrandbits

    def below(n: int) -> int:
        k = n.bit_length()
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        return r

    def pick(seq):
        n = len(seq)
        if not n:
            raise IndexError("Cannot choose from an empty sequence")
        k = n.bit_length()
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        return seq[r]
    return pick, below


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
        self.pick, self.below = _picker(self.rng)
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
        n_prospects, n_overlap = self.prospects(leads + contacts + person_accounts)
        return {"seed": self.p["seed"], "users": len(people), "leads": len(leads), "contacts": len(contacts),
                "accounts": n_accounts, "person_accounts": len(person_accounts), "campaigns": len(campaigns),
                "prospects": n_prospects, "overlapping_prospects": n_overlap}

    def chunked(self, obj: str, count: int, make) -> list[str]:
        """Insert `count` records made by make(i) in chunks under one block of stamps (as one
        insert would have them); returns their emails, which is all the later steps need."""
        first_ms = self.sf._stamp_block(count)
        efield = "PersonEmail" if obj == "Account" else "Email"
        emails = []
        for start in range(0, count, CHUNK):
            chunk = [make(i) for i in range(start, min(count, start + CHUNK))]
            self.sf.insert_raw(obj, chunk, coerce_values=False, first_ms=first_ms + start)
            emails.extend(r[efield] for r in chunk)
        return emails

    def person(self):
        return self.pick(FIRST), self.pick(LAST)

    def phone(self):
        return f"+49 30 {1000000 + self.below(8999999)}"   # randrange(1000000, 9999999)

    def base(self, i: int, kind: str) -> dict:
        pick = self.pick
        first, last = pick(FIRST), pick(LAST)
        return {"FirstName": first, "LastName": last,
                "Email": f"{ASCII[first]}.{ASCII[last]}.{kind}{i}.{self.tag}@example.com",
                "Phone": f"+49 30 {1000000 + self.below(8999999)}", "Title": pick(TITLES),
                "OwnerId": pick(self.owners), "HasOptedOutOfEmail": self.rng.random() < 0.05}

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

    def leads(self) -> list[str]:
        pick = self.pick

        def lead(i: int) -> dict:
            rec = self.base(i, "lead")
            rec.update(Company=pick(COMPANIES), LeadSource=pick(SOURCES), Status="Open - Not Contacted")
            return rec
        return self.chunked("Lead", self.p["leads"], lead)

    def contacts(self) -> tuple[int, list[str]]:
        pick, sf = self.pick, self.sf
        n_accounts = math.ceil(self.p["contacts"] / 5)
        accounts = sf.insert_raw("Account", [
            {"Name": f"{pick(COMPANIES)} {self.tag}-{i}", "Phone": self.phone(),
             "OwnerId": pick(self.owners), "RecordTypeId": sf.business_account_record_type_id}
            for i in range(n_accounts)], coerce_values=False)
        account_ids = [a["Id"] for a in accounts]
        del accounts

        def contact(i: int) -> dict:
            rec = self.base(i, "contact")
            rec["AccountId"] = account_ids[i // 5]
            return rec
        return n_accounts, self.chunked("Contact", self.p["contacts"], contact)

    def person_accounts(self) -> list[str]:
        def person(i: int) -> dict:
            rec = self.base(i, "person")
            return {"RecordTypeId": self.sf.person_account_record_type_id, "IsPersonAccount": True,
                    "FirstName": rec["FirstName"], "LastName": rec["LastName"], "PersonEmail": rec["Email"],
                    "PersonTitle": rec["Title"], "Phone": rec["Phone"], "OwnerId": rec["OwnerId"],
                    "PersonHasOptedOutOfEmail": rec["HasOptedOutOfEmail"]}
        return self.chunked("Account", self.p["person_accounts"], person)

    def campaigns(self) -> list[dict]:
        rng, campaigns = self.rng, []
        for i in range(self.p["campaigns"]):
            campaigns.append({"Name": f"Campaign {self.tag}-{i}", "Type": rng.choice(CAMPAIGN_TYPES),
                              "Status": rng.choice(("Planned", "In Progress", "Completed")), "IsActive": True,
                              "OwnerId": rng.choice(self.owners)})
        self.sf.insert_raw("Campaign", campaigns, coerce_values=False)
        self.pardot.insert("campaigns", [{"name": c["Name"]} for c in campaigns])
        return campaigns

    def prospects(self, sf_emails: list[str]) -> tuple[int, int]:
        rng, p, assignees = self.rng, self.p, self.pardot_user_ids
        pick, below, uniform, assigned = self.pick, self.below, rng.random, p["assigned"]
        n_overlap = min(round(p["prospects"] * p["overlap"]), len(sf_emails)) if sf_emails else 0
        overlap_emails = rng.sample(sf_emails, n_overlap)

        def prospect(i: int) -> dict:
            first, last = pick(FIRST), pick(LAST)
            email = (overlap_emails[i] if i < n_overlap
                     else f"{ASCII[first]}.{ASCII[last]}.prospect{i}.{self.tag}@example.org")
            return {"email": email, "firstName": first, "lastName": last, "company": pick(COMPANIES),
                    "jobTitle": pick(TITLES), "phone": f"+49 30 {1000000 + below(8999999)}",
                    "optedOut": uniform() < 0.05, "score": below(200), "grade": pick(GRADES),
                    "assignedToId": pick(assignees) if assignees and uniform() < assigned else None}
        for start in range(0, p["prospects"], CHUNK):
            self.pardot.insert("prospects", [prospect(i) for i in range(start, min(p["prospects"], start + CHUNK))],
                               render=False)
        return p["prospects"], n_overlap
