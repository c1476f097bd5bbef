"""What a reconcile run works with: its context and the planned work per record (R8–R25)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .mapping import Mapping
from .models import RecordLink
from .records import CrmRow, ProspectRow
from .remote import RemoteError

S2P, P2S = "salesforce_to_pardot", "pardot_to_salesforce"
NOT_PROVIDED = "[not provided]"  # what Pardot's own connector puts in required Lead fields
TYPE_RANK = {"Contact": 0, "Account": 0, "Lead": 1}  # R8: a contact wins over a lead

@dataclass
class Context:
    connector_id: int
    version: int
    ampsea: bool
    auto_create: bool
    follow_email: bool
    mds_rules: dict  # sobject → (field, value)
    mappings: list[Mapping]
    owner_fallback: str | None  # the connector user's Salesforce id (R12)
    user_map: dict  # Pardot user id → Salesforce user id
    sf: object
    pardot: object
    store: object
    prospect_fields: list[str]
    stats: dict = field(default_factory=lambda: {S2P: {}, P2S: {}})
    new_errors: list = field(default_factory=list)
    # In a cycle: prospect creates and link writes wait here for one bulk import (sync.bulk).
    deferred: list | None = None
    # Records whose writes wait in `deferred`: later chunks of the same run must treat them as
    # taken, or the other half of a pair (read in a later chunk of 200) pairs up a second time
    # and its link is added twice (issue 9 item 1).
    waiting_crm: set = field(default_factory=set)
    waiting_prospects: set = field(default_factory=set)
    # The admin's custom prospect field carrying the CRM id (setting "crm_id_field"), or None.
    crm_field: str | None = None

    def count(self, direction: str, what: str, n: int = 1) -> None:
        self.stats[direction][what] = self.stats[direction].get(what, 0) + n

    def mds_for(self, sobject: str):
        # Person accounts follow the Contact rule: they are contacts to Pardot.
        return self.mds_rules.get("Contact" if sobject == "Account" else sobject)


@dataclass
class NewLink:
    """A link a reconcile run is about to make: the attributes of a RecordLink, without an ORM
    entity's cost per record (a first sync makes one per record; issue 11). Stored by
    reconcile_commit in one insert."""
    connector_id: int
    prospect_id: int
    crm_id: str
    crm_type: str
    synced_values: dict = field(default_factory=dict)
    fingerprint: str | None = None
    deleted_in_crm: bool = False
    outside_mds: bool = False
    last_synced_at: object = None
    last_synced_to_pardot: object = None
    last_synced_to_salesforce: object = None
    id: None = None


@dataclass
class Pair:
    link: RecordLink | NewLink
    crm: CrmRow
    prospect: ProspectRow
    new_link: bool = False
    base: dict = field(default_factory=dict)
    merged: dict = field(default_factory=dict)
    sf_changes: dict = field(default_factory=dict)  # Pardot field → value
    pardot_changes: dict = field(default_factory=dict)  # Pardot API field → value
    pardot_action: str = "update"  # update | delete | undelete | none
    action: str = "updated"
    sf_error: RemoteError | None = None
    pardot_error: RemoteError | None = None
    deferred: bool = False  # its Pardot update waits for a bulk import (sync.bulk)


@dataclass
class CreateProspect:
    crm: CrmRow
    values: dict
    result: ProspectRow | None = None
    error: RemoteError | None = None
    deferred: bool = False  # waits for a bulk import (sync.bulk)


@dataclass
class CreateLead:
    prospect: ProspectRow
    sf_values: dict
    merged: dict
    crm: CrmRow | None = None
    error: RemoteError | None = None
    committed: bool = False  # the lead and its link are stored; only Pardot's copy of the link is due
    deferred: bool = False  # Pardot's copy of the link waits for a bulk import (sync.bulk)
