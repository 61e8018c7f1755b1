"""The hint catalogue: every id documented, the page current, unknown ids refused."""

from pathlib import Path

import pytest

from qrscope.diagnosis.catalogue import CATALOGUE, catalogue_ids, troubleshooting_markdown
from qrscope.diagnosis.hints import Hint

PAGE = Path(__file__).resolve().parents[2] / "docs" / "TROUBLESHOOTING.md"

ISSUE_IDS = {
    "connection-refused", "connection-timeout", "host-not-found",
    "association-rejected-called-aet", "association-rejected-calling-aet",
    "association-rejected", "association-aborted", "no-accepted-context",
    "move-destination-unknown", "reverse-connection-failed", "move-destination-mismatch",
    "listener-port-in-use", "listener-port-privileged", "listener-not-running",
    "listener-loopback-only", "images-after-final-response", "fewer-images-than-reported",
    "unexpected-instance", "suboperations-failed", "out-of-resources", "dimse-timeout",
    "get-store-rejected",
}


def test_catalogue_ids_are_unique_and_cover_the_known_failures():
    ids = [entry.id for entry in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert set(ids) >= ISSUE_IDS


def test_troubleshooting_page_is_generated_from_the_catalogue():
    assert PAGE.read_text(encoding="utf-8") == troubleshooting_markdown(), (
        "docs/TROUBLESHOOTING.md is stale: run python scripts/gen-troubleshooting.py")
    for entry_id in catalogue_ids():
        assert f"`{entry_id}`" in PAGE.read_text(encoding="utf-8")


def test_a_hint_outside_the_catalogue_cannot_be_made():
    with pytest.raises(ValueError, match="not in the catalogue"):
        Hint(id="made-up", title="", summary="")


def test_every_hint_id_is_asserted_by_a_test_that_provokes_it():
    """Each id appears, quoted, in a test other than this one."""
    tests = Path(__file__).resolve().parents[1]
    sources = "".join(p.read_text(encoding="utf-8") for p in tests.rglob("test_*.py")
                      if p.name != Path(__file__).name)
    missing = sorted(i for i in catalogue_ids() if f'"{i}"' not in sources
                     and f"[{i}]" not in sources)
    assert missing == []
