"""The shared command grammar (pure: no Slack, no service)."""
import pytest

from bot import grammar
from bot.grammar import Command, ParseError, parse


@pytest.mark.parametrize("text, expected", [
    ("", Command("help")),
    ("help", Command("help")),
    ("help retry", Command("help", {"topic": "retry"})),
    ("/pardot version", Command("version")),
    ("STATUS", Command("status")),
    ("checklist", Command("checklist")),
    ("whoami", Command("whoami")),
    ("errors", Command("errors", {})),
    ("errors validation", Command("errors", {"category": "validation"})),
    ("errors all", Command("errors", {"status": "all"})),
    ("errors Duplicate open", Command("errors", {"category": "duplicate", "status": "open"})),
    ("error 12", Command("error", {"error_id": 12})),
    ("error #12", Command("error", {"error_id": 12})),
    ("retry 7", Command("retry", {"error_id": 7})),
    ("retry transient", Command("retry", {"category": "transient"})),
    ("dismiss 3", Command("dismiss", {"error_id": 3})),
    ("sync prospect 42", Command("sync", {"prospect_id": 42})),
    ("sync prospect Ada@Example.com", Command("sync", {"email": "Ada@Example.com"})),
    ("sync prospect <mailto:ada@example.com|ada@example.com>", Command("sync", {"email": "ada@example.com"})),
    ("send lead 00Q000000000001AAA", Command("send", {"sobject": "Lead", "crm_id": "00Q000000000001AAA"})),
    ("send Contact 003000000000001AAA", Command("send", {"sobject": "Contact", "crm_id": "003000000000001AAA"})),
    ("job sync-prospect-ab12", Command("job", {"job_id": "sync-prospect-ab12"})),
    ("pause", Command("pause", {"reason": None})),
    ("pause Data cleanup, back Monday", Command("pause", {"reason": "Data cleanup, back Monday"})),
    ("resume MDS rules fixed", Command("resume", {"note": "MDS rules fixed"})),
    ("approve 4", Command("approve", {"request_id": 4})),
    ("deny 4", Command("deny", {"request_id": 4, "reason": None})),
    ("deny 4 Checklist warns about AMPSEA", Command("deny", {"request_id": 4, "reason": "Checklist warns about AMPSEA"})),
    ("create", Command("create", {})),
    ("create v1", Command("create", {"version": 1})),
    ("create v2 owner <#C0123ABC|sync-errors>", Command("create", {"version": 2, "owner": "C0123ABC"})),
    ("create owner #sync-errors", Command("create", {"owner": "#sync-errors"})),
])
def test_parses_every_command(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text, usage_of, mentions", [
    ("stauts", "status", "`stauts`"),
    ("retyr 5", "retry", "`retyr`"),
    ("dismis 5", "dismiss", "`dismis`"),
    ("sync prospect ada", "sync", "neither a prospect id"),
    ("sync", "sync", "one prospect id"),
    ("send opportunity 006000000000001AAA", "send", "lead, contact or account"),
    ("send lead", "send", "lead, contact or account"),
    ("error twelve", "error", "not an id"),
    ("error 0", "error", "not an id"),
    ("dismiss", "dismiss", "exactly one id"),
    ("retry 1 2", "retry", "one error id"),
    ("retry 1.5", "retry", "neither an error id nor a category"),
    ("status now", "status", "takes no arguments"),
    ("errors validation duplicate", "errors", "one too many"),
    ("deny", "deny", "needs the request id"),
    ("approve me", "approve", "not an id"),
    ("create v3", "create", "`v3`"),
    ("help stauts", "status", "no command"),
])
def test_malformed_or_unknown_commands_get_the_closest_usage(text, usage_of, mentions):
    result = parse(text)
    assert isinstance(result, ParseError)
    assert result.spec is not None and result.spec.name == usage_of
    assert mentions in result.message


def test_far_off_words_get_no_guess():
    result = parse("xyzzy plugh")
    assert isinstance(result, ParseError) and result.spec is None and "`xyzzy`" in result.message


def test_slack_markup_is_unescaped():
    assert grammar.unescape("<@U123ABC> status &amp; <https://x.test|link>") == "U123ABC status & link"


def test_help_lists_every_command_with_its_usage():
    text = grammar.help_text()
    for spec in grammar.SPECS:
        assert spec.usage in text
    assert grammar.help_text("send").startswith("`send lead|contact|account ID`")


# ---------------------------------------------------------------------- issue 9 item 14
@pytest.mark.parametrize("text, expected", [
    ("settings", Command("settings")),
    ("settings ampsea true", Command("settings", {"key": "ampsea", "value": True})),
    ("settings salesforce_api_share 0.4", Command("settings", {"key": "salesforce_api_share", "value": 0.4})),
    ("settings error_queue_owner #sync-errors", Command("settings", {"key": "error_queue_owner",
                                                                     "value": "#sync-errors"})),
    ("settings error_queue_owner <#C0123ABC|sync-errors>", Command("settings", {"key": "error_queue_owner",
                                                                                "value": "C0123ABC"})),
    ("settings error_queue_owner null", Command("settings", {"key": "error_queue_owner", "value": None})),
    ('settings role_overrides {"ada@example.com": "admin"}',
     Command("settings", {"key": "role_overrides", "value": {"ada@example.com": "admin"}})),
    ("settings connector_user integration user", Command("settings", {"key": "connector_user",
                                                                      "value": "integration user"})),
])
def test_parses_settings(text, expected):
    assert parse(text) == expected


def test_settings_with_a_key_and_no_value_gets_its_usage():
    result = parse("settings ampsea")
    assert isinstance(result, ParseError) and result.spec.name == "settings"
    assert result.message == "`settings ampsea` needs a value: `settings ampsea VALUE`."


@pytest.mark.parametrize("name", [s.name for s in grammar.SPECS])
def test_help_command_gives_the_usage_and_an_example_that_parses(name):
    """Before: `help retry` was one line of usage, no example, no categories."""
    text = grammar.help_text(name)
    usage, example = text.splitlines()[:2]
    assert usage.startswith(f"`{grammar.SPEC[name].usage}` - ")
    assert example.startswith("Example: `") and example.endswith("`")
    parsed = parse(example[len("Example: `"):-1])
    assert isinstance(parsed, Command) and parsed.name == name.replace(" ", "_")  # `sync status` → sync_status


def test_help_errors_and_help_retry_list_the_categories():
    from sync.service import ERROR_CATEGORIES

    for topic in ("errors", "retry"):
        assert f"Categories: {', '.join(ERROR_CATEGORIES)}" in grammar.help_text(topic)
    assert "statuses: open, all, retrying, resolved, dismissed" in grammar.help_text("errors")
