"""The access policy: patterns, specificity, defaults and taint (pure logic)."""

from llmos_kernel.tools.policy import Policy


def test_defaults():
    p = Policy()
    assert p.decide("memory.recall", side_effects=False, tainted=False).action == "allow"
    assert p.decide("fs.list_files", side_effects=False, tainted=False).action == "allow"
    assert p.decide("fs.read_file", side_effects=False, tainted=False).action == "ask"
    assert p.decide("python", side_effects=True, tainted=False).action == "ask"
    assert p.decide("mcp.github.search", side_effects=False, tainted=False).action == "ask"
    assert p.decide("user.anything", side_effects=True, tainted=False).action == "ask"


def test_most_specific_pattern_wins_then_newest():
    p = Policy()
    p.set("mcp.github.*", "deny")
    p.set("mcp.github.search", "allow")
    assert p.decide("mcp.github.search", side_effects=False, tainted=False).action == "allow"
    assert p.decide("mcp.github.delete_repo", side_effects=True, tainted=False).action == "deny"
    p.set("mcp.github.*", "ask")  # replaces the earlier rule for the same pattern
    assert p.decide("mcp.github.delete_repo", side_effects=True, tainted=False).action == "ask"
    assert sum(1 for pattern, _ in p.rules if pattern == "mcp.github.*") == 1


def test_taint_makes_allowed_side_effects_ask_but_not_reads_or_denials():
    p = Policy()
    p.set("python", "allow")
    p.set("fs.read_file", "allow")
    decision = p.decide("python", side_effects=True, tainted=True)
    assert decision.action == "ask" and decision.tainted
    assert p.decide("fs.read_file", side_effects=False, tainted=True).action == "allow"
    p.set("python", "deny")
    assert p.decide("python", side_effects=True, tainted=True).action == "deny"


def test_bad_rules_are_refused():
    p = Policy()
    for pattern, action in (("python", "maybe"), ("", "allow")):
        try:
            p.set(pattern, action)
        except ValueError:
            continue
        raise AssertionError(f"{pattern!r} {action!r} was accepted")
