"""Studies retrieved from real Orthanc and DCMTK dcmqrscp are in the archive at once.

Received by C-MOVE (on our listener's associations) and by C-GET (on our
own), every instance is written to the archive index as it is filed:
``qrscope archive list`` right after the retrieve shows the study with the
instances the server holds and the bytes the files take on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qrscope.cli.main import main
from qrscope.core.archive.index import close_index
from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profiles import LocalAE, RemoteNode, RetrieveMethod
from qrscope.core.receive.listener import StorageListener
from qrscope.core.retrieve import RetrieveJob
from qrscope.core.retrieve.types import RetrieveScope
from qrscope.demo_pacs.samples import sample_uid

from .peers import PeerServer, roleless_by_get_here

STUDIES = {"clinical-rt-prostate": "QRS-2001", "clinical-mr-outside": "QRS-2004"}


@pytest.fixture(params=["orthanc", "dcmqrscp"])
def server(request: pytest.FixtureRequest) -> PeerServer:
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("method", [RetrieveMethod.MOVE, RetrieveMethod.GET])
@pytest.mark.parametrize("study", sorted(STUDIES))
def test_a_retrieved_study_is_listed_with_its_counts_and_bytes_at_once(
        server: PeerServer, method: RetrieveMethod, study: str, tmp_path: Path, capsys):
    storage = tmp_path / "archive"
    study_uid = sample_uid(study)
    local = LocalAE(ae_title="QRSCOPE", listener_port=server.peer_listener_port,
                    bind_address="127.0.0.1", storage_folder=storage)
    node = RemoteNode(name=server.kind, ae_title=server.ae_title, host=server.host,
                      port=server.port)
    log = AssociationLog()
    scope = RetrieveScope.study(study_uid, patient_id=STUDIES[study])
    try:
        if method is RetrieveMethod.GET:
            outcome = RetrieveJob(node, local, log, scope, method=method).run()
        else:
            with StorageListener(local, log) as listener:
                outcome = RetrieveJob(node, local, log, scope, method=method,
                                      listener=listener).run()
        instances = [i for i in server.instances if i.study_instance_uid == study_uid]
        # Stock pynetdicom cannot take a private class from Orthanc by C-GET (see peers).
        unreachable = roleless_by_get_here(server, instances) if method is RetrieveMethod.GET \
            else set()
        held = {i.sop_instance_uid for i in instances} - unreachable
        assert outcome.completed == len(held) > 0
        files = list(storage.rglob("*.dcm"))
        assert main(["archive", "list", "--study", study_uid, "--storage", str(storage),
                     "--json"]) == 0
        [row] = json.loads(capsys.readouterr().out)["results"]
        assert row["instances"] == len(held)
        assert row["bytes"] == sum(f.stat().st_size for f in files)
        assert main(["archive", "list", "--level", "instance", "--study", study_uid,
                     "--storage", str(storage), "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)["results"]
        assert {r["sop_instance_uid"] for r in listed} == held
    finally:
        close_index(storage)
