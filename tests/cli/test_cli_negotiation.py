"""``-vv`` shows the association negotiation context by context; ``-v`` one line per event."""

from __future__ import annotations

import re

from pynetdicom.sop_class import Verification

from qrscope.cli.main import main

CONTEXT_LINE = re.compile(r"^ +\[ *(\d+)\] ")


def _node_args(demo) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(demo.pacs.port), "--called-aet",
            demo.pacs.ae_title]


def _blocks(err: str, marker: str) -> list[list[str]]:
    """The indented lines printed under each event line whose summary is *marker*...

    (a regular expression; not the PDU lines "A-ASSOCIATE-RQ sent, 1234 bytes").
    """
    pattern = re.compile(rf"\s{marker}(?!,)")
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in err.splitlines():
        if line.startswith(" "):
            if current is not None:
                current.append(line)
            continue
        current = [] if pattern.search(line) else None
        if current is not None:
            blocks.append(current)
    return blocks


def _context_ids(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := CONTEXT_LINE.match(line))]


def test_vv_shows_the_echo_negotiation(demo, capsys):
    assert main(["echo", *_node_args(demo), "-vv"]) == 0
    err = capsys.readouterr().err
    (request,) = _blocks(err, "A-ASSOCIATE-RQ sent")
    (answer,) = _blocks(err, "A-ASSOCIATE-AC received")
    assert any(f"Verification SOP Class ({Verification}): Implicit VR Little Endian" in line
               for line in request)
    assert any(line.strip().startswith("requestor (us): maximum PDU length") for line in request)
    assert any("implementation 1.2.826.0.1.3680043.9.3811" in line for line in request)
    assert any(re.search(r"maximum PDU length: requestor \(us\) receives \d+ bytes, "
                         rf"acceptor \({demo.pacs.ae_title}\) receives \d+ bytes", line)
               for line in answer)
    assert _context_ids(request) == _context_ids(answer) == [1]
    assert any("accepted, " in line for line in answer)


def test_v_keeps_one_line_per_event(demo, capsys):
    assert main(["echo", *_node_args(demo), "-v"]) == 0
    err = capsys.readouterr().err
    assert "A-ASSOCIATE-RQ sent" in err and "A-ASSOCIATE-AC received" in err
    assert not any(line.startswith(" ") for line in err.splitlines())


def test_vv_shows_a_c_get_proposing_many_contexts_with_roles(demo, capsys, tmp_path):
    study = demo.pacs.instances[0].text("StudyInstanceUID")
    code = main(["retrieve", *_node_args(demo), "--study", study, "--method", "get",
                 "--out", str(tmp_path / "out"), "-vv"])
    err = capsys.readouterr().err
    assert code == 0, err
    summaries = [line for line in err.splitlines() if "A-ASSOCIATE-RQ sent:" in line]
    requests, answers = _blocks(err, "A-ASSOCIATE-RQ sent"), _blocks(err, "A-ASSOCIATE-AC received")
    # The C-GET's association: the one whose request asks for a storage role.
    get = next(n for n, block in enumerate(requests)
               if any(line.endswith("; role SCP") for line in block))
    proposed = int(re.search(r"(\d+) presentation context", summaries[get]).group(1))
    assert proposed > 2
    assert len(_context_ids(requests[get])) == len(_context_ids(answers[get])) == proposed
    assert any(line.endswith("; roles granted SCP") for line in answers[get])
    established = _blocks(err, "association established")[get]
    assert any(line.endswith("we act as SCP") for line in established)
