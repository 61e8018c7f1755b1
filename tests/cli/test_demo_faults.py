"""Each demo PACS fault, provoked for real, gives the right hint id on the command line."""

from __future__ import annotations

import json
import re

import pytest
from tests.demo_site import free_port

from qrscope.cli.main import main
from qrscope.demo_pacs import DemoPacs, configure
from qrscope.demo_pacs.busy import RetrieveGate, RetrieveGateCounts


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def _faulty(fault: str, sample_folder, listener_port: int) -> DemoPacs:
    behaviour, destinations = configure(fault, {"QRSCOPE": ("127.0.0.1", listener_port)})
    pacs = DemoPacs(data_folder=sample_folder, destinations=destinations, behaviour=behaviour)
    pacs.start()
    return pacs


def _study_sizes(pacs: DemoPacs) -> dict[str, int]:
    counts: dict[str, int] = {}
    for instance in pacs.instances:
        uid = instance.text("StudyInstanceUID")
        counts[uid] = counts.get(uid, 0) + 1
    return counts


def _largest_study(pacs: DemoPacs) -> str:
    counts = _study_sizes(pacs)
    return max(counts, key=counts.__getitem__)


def _smallest_study(pacs: DemoPacs) -> str:
    counts = _study_sizes(pacs)
    return min(counts, key=counts.__getitem__)


def _run(capsys, pacs: DemoPacs, *args: str) -> tuple[int, dict]:
    code = main([*args, "--host", "127.0.0.1", "--port", str(pacs.port),
                 "--called-aet", pacs.ae_title, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("fault", "command", "expected"),
    [
        ("unknown-destination", "retrieve", "move-destination-unknown"),
        ("reject-calling-aet", "echo", "association-rejected-calling-aet"),
        ("no-cget", "retrieve-get", "no-accepted-context"),
        ("abort-mid-transfer", "retrieve-get", "association-aborted"),
        ("final-before-images", "retrieve", "images-after-final-response"),
        ("empty-success", "retrieve", "success-with-nothing-sent"),
        ("empty-success", "retrieve-get", "success-with-nothing-sent"),
        ("fewer-images", "retrieve", "fewer-images-than-reported"),
        ("out-of-resources", "retrieve", "out-of-resources"),
        ("busy:0", "retrieve", "out-of-resources"),
        ("busy:0", "retrieve-get", "out-of-resources"),
        ("busy-at-random:1", "retrieve", "out-of-resources"),
        ("slow-responses", "retrieve-get-idle", "dimse-timeout"),
    ],
)
def test_fault_gives_its_hint(fault, command, expected, sample_folder, tmp_path, capsys):
    listener_port = free_port()
    pacs = _faulty(fault, sample_folder, listener_port)
    try:
        if command == "echo":
            code, result = _run(capsys, pacs, "echo")
        else:
            method = "get" if command.startswith("retrieve-get") else "move"
            idle = command.endswith("idle")
            extra = ["--idle-timeout", "0.5"] if idle else []
            # The idle limit needs one image the PACS is slow to send; after the stop,
            # qrscope asks the PACS (0.3 s a match) what is missing, series by series,
            # which for the largest study took 5 s more.
            study = _smallest_study(pacs) if idle else _largest_study(pacs)
            code, result = _run(capsys, pacs, "retrieve", "--study", study,
                                "--method", method, "--listen-port", str(listener_port),
                                "--out", str(tmp_path / "out"), *extra)
    finally:
        pacs.stop()
    if fault == "final-before-images":
        # qrscope waits after the final response and keeps what still arrives.
        assert code == 0 and result["status"] == "success" and result["late_instances"] > 0
    elif fault == "empty-success":
        # Whatever the status says, a success that brought nothing is never silent,
        # and never a success: "operation failed" (exit 4).
        assert result["received"] == 0 and result["completed"] == 0
        assert result["final_status"]["code"] == "0x0000"
        assert code == 4 and result["status"] == "failed", result
    else:
        assert code != 0
    assert expected in result["hints"], result


def test_empty_success_ranks_the_causes_and_says_nothing_arrived(sample_folder, tmp_path,
                                                                capsys):
    listener_port = free_port()
    pacs = _faulty("empty-success", sample_folder, listener_port)
    try:
        code, result = _run(capsys, pacs, "retrieve", "--study", _largest_study(pacs),
                            "--listen-port", str(listener_port), "--out", str(tmp_path))
    finally:
        pacs.stop()
    assert code == 4 and result["status"] == "failed"
    assert result["hints"][0] == "success-with-nothing-sent"
    hint = result["hint_details"][0]
    assert "sent nothing" in hint["title"] and "zero sub-operations" in hint["summary"]
    causes = " ".join(hint["causes"])
    assert "matched nothing" in causes or "index lists" in causes
    assert "answers first and sends later" in causes


def test_images_a_second_after_an_empty_success_are_kept(sample_folder, tmp_path, capsys):
    listener_port = free_port()
    pacs = _faulty("empty-success-then-images", sample_folder, listener_port)
    try:
        _code, result = _run(capsys, pacs, "retrieve", "--study", _largest_study(pacs),
                             "--listen-port", str(listener_port), "--out", str(tmp_path))
    finally:
        pacs.stop()
    assert result["late_instances"] > 0, result
    assert "images-after-final-response" in result["hints"]
    assert "success-with-nothing-sent" not in result["hints"]


def test_busy_a702_names_the_status_and_the_node_and_is_not_a_dead_reverse_connection(
        sample_folder, tmp_path, capsys):
    listener_port = free_port()
    pacs = _faulty("busy:0", sample_folder, listener_port)
    try:
        code, result = _run(capsys, pacs, "retrieve", "--study", _largest_study(pacs),
                            "--listen-port", str(listener_port), "--out", str(tmp_path))
    finally:
        pacs.stop()
    assert code == 4 and result["final_status"]["code"] == "0xA702"
    assert result["hints"] == ["out-of-resources"], result["hints"]
    hint = result["hint_details"][0]
    assert "0xA702" in hint["summary"] and "out of resources" in hint["summary"]
    # The PACS connected back and sent nothing: the connection to us works.
    assert "connected back" in hint["summary"]
    assert any("at once" in cause for cause in hint["causes"])
    assert pacs.retrieve_counts().refused == 1


def test_the_busy_gate_counts_retrieves_at_once_and_refuses_above_its_limit():
    gate = RetrieveGate(busy_above=2)
    assert [gate.enter() for _ in range(3)][:2] == ["", ""]
    assert gate.counts() == RetrieveGateCounts(running=2, most_at_once=2, refused=1)
    gate.leave()
    assert gate.enter() == ""
    assert "limit 2" in gate.enter()
    assert gate.counts() == RetrieveGateCounts(running=2, most_at_once=2, refused=2)


def test_the_random_busy_gate_is_seeded():
    first, second = RetrieveGate(busy_probability=0.5, seed=3), RetrieveGate(
        busy_probability=0.5, seed=3)
    answers = [first.enter() for _ in range(40)]
    assert answers == [second.enter() for _ in range(40)]
    assert 5 < sum(1 for a in answers if a) < 35


@pytest.mark.parametrize(("fault", "field", "value"), [
    ("busy", "busy_above", 2), ("busy:5", "busy_above", 5),
    ("busy-at-random", "busy_probability", 0.3), ("busy-at-random:0.75", "busy_probability", 0.75),
])
def test_busy_faults_take_their_parameter(fault, field, value):
    behaviour, _ = configure(fault, {})
    assert getattr(behaviour, field) == value


@pytest.mark.parametrize("fault", ["busy:x", "busy:1.5", "busy:-1", "busy-at-random:2"])
def test_busy_faults_refuse_a_parameter_they_cannot_take(fault):
    with pytest.raises(ValueError, match="busy"):
        configure(fault, {})


def test_reject_called_aet_names_the_title(sample_folder, capsys):
    pacs = _faulty("reject-called-aet", sample_folder, free_port())
    try:
        code = main(["echo", "--host", "127.0.0.1", "--port", str(pacs.port), "--called-aet",
                     "TYPO", "--json"])
        result = json.loads(capsys.readouterr().out)
    finally:
        pacs.stop()
    assert code == 3 and result["hints"] == ["association-rejected-called-aet"]
    assert "TYPO" in result["hint_details"][0]["title"]


def test_unreachable_destination_shows_the_pacs_could_not_reach_us(sample_folder, tmp_path,
                                                                     capsys):
    listener_port = free_port()
    pacs = _faulty("unreachable-destination", sample_folder, listener_port)
    try:
        code, result = _run(capsys, pacs, "retrieve", "--study", _largest_study(pacs),
                            "--listen-port", str(listener_port), "--out", str(tmp_path))
    finally:
        pacs.stop()
    assert code == 4 and result["received"] == 0
    assert result["incoming_associations"] == []
    # pynetdicom-based servers answer 0xA801 when the destination does not
    # answer, exactly as for an unknown one: the hint names both causes,
    # never "has no entry" as a finding, with an action for each.
    assert result["final_status"]["code"] == "0xA801"
    assert result["hints"][:2] == ["move-destination-unknown", "reverse-connection-failed"]
    unknown, reverse = result["hint_details"][:2]
    assert "has no entry" not in unknown["title"]
    assert "either it has no entry" in unknown["summary"]
    assert "does not tell which" in unknown["summary"]
    assert "has no entry for the AE title 'QRSCOPE'" in unknown["causes"][0]
    assert f"correct them to 127.0.0.1:{listener_port}" in unknown["causes"][1]
    assert any(a["kind"] == "copy" and "HostTable" in a["value"] for a in unknown["actions"])
    assert reverse["summary"].startswith("If the PACS knows 'QRSCOPE'")


def test_demo_pacs_help_lists_the_faults(capsys):
    with pytest.raises(SystemExit):
        main(["demo-pacs", "--help"])
    out = re.sub(r"-\s+", "-", " ".join(capsys.readouterr().out.split()))  # undo wrapping
    for name in ("unknown-destination", "reject-calling-aet", "abort-mid-transfer"):
        assert name in out


def test_a_busy_answer_to_a_c_get_is_not_asked_again_in_every_other_syntax(
        sample_folder, tmp_path, capsys):
    """A PACS that says it is out of resources, having tried nothing (an empty Failed SOP
    Instance UID List), would say so to any other proposal: asking again per syntax only
    hammers a PACS that asked for less load."""
    pacs = _faulty("busy:0", sample_folder, free_port())
    try:
        code, result = _run(capsys, pacs, "retrieve", "--study", _largest_study(pacs),
                            "--method", "get", "--out", str(tmp_path))
    finally:
        pacs.stop()
    assert code == 4 and result["final_status"]["code"] == "0xA702"
    assert pacs.retrieve_counts().refused == 1


@pytest.mark.parametrize("fault", ["busy:2", "busy-at-random:0.5", "busy", "no-cget"])
def test_demo_pacs_command_line_takes_a_fault_with_its_parameter(fault):
    """``qrscope demo-pacs --fault busy:2``: the parameter the faults module documents is
    accepted where users type it, not only by :func:`configure`."""
    from qrscope.cli.main import build_parser

    assert build_parser().parse_args(["demo-pacs", "--fault", fault]).fault == fault


@pytest.mark.parametrize("fault, said", [("busy:x", "N is a number"),
                                         ("nosuch", "unknown fault"),
                                         ("no-cget:1", "takes no parameter")])
def test_demo_pacs_command_line_refuses_a_fault_it_cannot_show(fault, said, capsys):
    assert main(["demo-pacs", "--fault", fault]) == 2
    assert said in capsys.readouterr().err


def test_demo_pacs_command_line_names_the_fault_with_its_parameter(capsys, monkeypatch):
    """``qrscope demo-pacs --fault busy:3`` says "more than 3" on its first line, not the
    default's number: the user reads there what the PACS will do."""
    from tests.ports import free_ports

    from qrscope.cli import server_commands

    monkeypatch.setattr(server_commands, "_wait_for_interrupt", lambda: None)
    port = free_ports(1)[0]
    assert main(["demo-pacs", "--port", str(port), "--fault", "busy:3"]) == 0
    line = capsys.readouterr().err
    assert "fault: busy:3 (" in line and "more than 3 " in line, line
