"""Salesforce object and field definitions served by the sandbox (describe, validation, SOQL types)."""
from __future__ import annotations

from dataclasses import dataclass

from .ids import KEY_PREFIXES


@dataclass(frozen=True)
class Field:
    name: str
    type: str                     # SOQL/describe type
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    required: bool = False        # REQUIRED_FIELD_MISSING on create/update when blank
    external_id: bool = False
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    default: object = None

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c") or self.name.endswith("__pc")

    @property
    def writable(self) -> bool:
        return self.createable or self.updateable


def _label(name: str) -> str:
    base = name.replace("__pc", "").replace("__c", "")
    base = base.split("__")[-1]
    out = []
    for i, ch in enumerate(base):
        if ch == "_":
            out.append(" ")
            continue
        if i and ch.isupper() and base[i - 1].islower():
            out.append(" ")
        out.append(ch)
    return "".join(out).strip()


def S(name, length=255, **kw):
    return Field(name, "string", length=length, **kw)


def _system(owner: bool = True) -> list[Field]:
    ro = dict(createable=False, updateable=False)
    fields = [
        Field("Id", "id", length=18, nillable=False, **ro),
        Field("IsDeleted", "boolean", nillable=False, **ro),
        Field("CreatedDate", "datetime", nillable=False, **ro),
        Field("CreatedById", "reference", length=18, nillable=False, reference_to=("User",), **ro),
        Field("LastModifiedDate", "datetime", nillable=False, **ro),
        Field("LastModifiedById", "reference", length=18, nillable=False, reference_to=("User",), **ro),
        Field("SystemModstamp", "datetime", nillable=False, **ro),
    ]
    if owner:
        fields.append(Field("OwnerId", "reference", length=18, nillable=False, reference_to=("User",)))
    return fields


LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review",
          "Closed Won", "Closed Lost")
RO = dict(createable=False, updateable=False)

OBJECTS: dict[str, list[Field]] = {
    "Lead": _system() + [
        S("FirstName", 40), S("LastName", 80, nillable=False, required=True),
        Field("Name", "string", length=121, **RO),
        S("Company", 255, nillable=False, required=True), S("Title", 128),
        Field("Email", "email", length=80), Field("Phone", "phone", length=40),
        Field("HasOptedOutOfEmail", "boolean", nillable=False, default=False),
        Field("Status", "picklist", length=255, nillable=False, picklist=LEAD_STATUSES,
              default="Open - Not Contacted"),
        Field("LeadSource", "picklist", length=255, picklist=LEAD_SOURCES),
        Field("IsConverted", "boolean", nillable=False, default=False, **RO),
        Field("ConvertedContactId", "reference", length=18, reference_to=("Contact",), **RO),
        Field("ConvertedAccountId", "reference", length=18, reference_to=("Account",), **RO),
        Field("ConvertedDate", "date", **RO),
        Field("pi__score__c", "double"), S("pi__grade__c", 10),
        S("Business_Unit__c", 255), S("External_Id__c", 255, external_id=True),
    ],
    "Contact": _system() + [
        Field("AccountId", "reference", length=18, reference_to=("Account",)),
        S("FirstName", 40), S("LastName", 80, nillable=False, required=True),
        Field("Name", "string", length=121, **RO), S("Title", 128),
        Field("Email", "email", length=80), Field("Phone", "phone", length=40),
        Field("HasOptedOutOfEmail", "boolean", nillable=False, default=False),
        Field("IsPersonAccount", "boolean", nillable=False, default=False, **RO),
        Field("pi__score__c", "double"), S("pi__grade__c", 10),
        S("Business_Unit__c", 255), S("External_Id__c", 255, external_id=True),
    ],
    "Account": _system() + [
        S("Name", 255, nillable=False),
        Field("RecordTypeId", "reference", length=18, reference_to=("RecordType",), updateable=False),
        Field("IsPersonAccount", "boolean", nillable=False, default=False, **RO),
        S("FirstName", 40), S("LastName", 80),
        Field("PersonEmail", "email", length=80), S("PersonTitle", 80),
        Field("Phone", "phone", length=40),
        Field("PersonHasOptedOutOfEmail", "boolean", nillable=False, default=False),
        Field("PersonContactId", "reference", length=18, reference_to=("Contact",), **RO),
        Field("pi__score__pc", "double"), S("pi__grade__pc", 10),
        S("Business_Unit__c", 255), S("External_Id__c", 255, external_id=True),
    ],
    "User": _system(owner=False) + [
        S("Username", 80, nillable=False, required=True), Field("Email", "email", length=128, nillable=False, required=True),
        S("FirstName", 40), S("LastName", 80, nillable=False, required=True),
        Field("Name", "string", length=121, **RO),
        Field("IsActive", "boolean", nillable=False, default=True),
    ],
    "Campaign": _system() + [
        S("Name", 80, nillable=False, required=True),
        Field("IsActive", "boolean", nillable=False, default=False),
        Field("Status", "picklist", length=255, picklist=("Planned", "In Progress", "Completed", "Aborted"),
              default="Planned"),
        Field("Type", "picklist", length=255, picklist=("Conference", "Webinar", "Email", "Advertisement",
                                                         "Direct Mail", "Other")),
    ],
    "Opportunity": _system() + [
        S("Name", 120, nillable=False, required=True),
        Field("StageName", "picklist", length=255, nillable=False, required=True, picklist=STAGES),
        Field("CloseDate", "date", nillable=False, required=True),
        Field("AccountId", "reference", length=18, reference_to=("Account",)),
        Field("Amount", "currency"), S("Business_Unit__c", 255),
    ],
    "RecordType": _system(owner=False) + [
        S("Name", 80, nillable=False, required=True), S("DeveloperName", 80, nillable=False, required=True),
        S("SobjectType", 40, nillable=False, required=True),
        Field("IsPersonType", "boolean", nillable=False, default=False),
        Field("IsActive", "boolean", nillable=False, default=True),
    ],
}

LABELS = {
    "Lead": ("Lead", "Leads"), "Contact": ("Contact", "Contacts"), "Account": ("Account", "Accounts"),
    "User": ("User", "Users"), "Campaign": ("Campaign", "Campaigns"),
    "Opportunity": ("Opportunity", "Opportunities"), "RecordType": ("Record Type", "Record Types"),
}
# Objects the REST API lets clients write (User/RecordType are managed by the sandbox).
WRITABLE_OBJECTS = {"Lead", "Contact", "Account", "Campaign", "Opportunity"}
EMAIL_FIELD = {"Lead": "Email", "Contact": "Email", "Account": "PersonEmail", "User": "Email"}


class ObjectSchema:
    def __init__(self, name: str, fields: list[Field]):
        self.name = name
        self.fields = {f.name: f for f in fields}
        self.by_lower = {f.name.lower(): f for f in fields}
        self.soql_types = {f.name: f.type for f in fields}
        self.key_prefix = KEY_PREFIXES[name]
        self.label, self.label_plural = LABELS[name]
        self.external_ids = [f.name for f in fields if f.external_id]
        self.has_owner = "OwnerId" in self.fields

    def field(self, name: str) -> Field | None:
        return self.by_lower.get(name.lower())

    def describe(self, version: str) -> dict:
        return {
            **self.summary(version),
            "fields": [self._describe_field(f) for f in self.fields.values()],
            "recordTypeInfos": [],
            "childRelationships": [],
        }

    def summary(self, version: str) -> dict:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        writable = self.name in WRITABLE_OBJECTS
        return {
            "name": self.name, "label": self.label, "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix, "custom": False, "queryable": True, "retrieveable": True,
            "searchable": True, "createable": writable, "updateable": writable, "deletable": writable,
            "undeletable": writable, "replicateable": True, "layoutable": True, "triggerable": True,
            "urls": {"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"},
        }

    @staticmethod
    def _describe_field(f: Field) -> dict:
        return {
            "name": f.name, "label": f.label or _label(f.name), "type": f.type, "length": f.length,
            "nillable": f.nillable, "createable": f.createable, "updateable": f.updateable,
            "externalId": f.external_id, "custom": f.custom, "unique": False,
            "idLookup": f.name == "Id" or f.external_id or f.type == "email",
            "defaultedOnCreate": f.default is not None or f.name in ("Id", "OwnerId", "CreatedDate"),
            "filterable": True, "sortable": f.type != "textarea", "calculated": False,
            "referenceTo": list(f.reference_to), "relationshipName": (
                f.name[:-2] if f.type == "reference" and f.name.endswith("Id") else None),
            "picklistValues": [
                {"active": True, "defaultValue": v == f.default, "label": v, "validFor": None, "value": v}
                for v in f.picklist
            ],
            "restrictedPicklist": False,
            "soapType": _SOAP.get(f.type, "xsd:string"),
            "precision": 18 if f.type in ("double", "currency") else 0,
            "scale": 2 if f.type == "currency" else (0 if f.type != "double" else 6),
            "digits": 9 if f.type == "int" else 0,
        }


_SOAP = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "double": "xsd:double",
         "currency": "xsd:double", "int": "xsd:int", "date": "xsd:date", "datetime": "xsd:dateTime"}

SCHEMAS: dict[str, ObjectSchema] = {name: ObjectSchema(name, fields) for name, fields in OBJECTS.items()}
SCHEMAS_LOWER = {name.lower(): s for name, s in SCHEMAS.items()}


def schema_for(name: str) -> ObjectSchema | None:
    return SCHEMAS_LOWER.get(name.lower()) if isinstance(name, str) else None
