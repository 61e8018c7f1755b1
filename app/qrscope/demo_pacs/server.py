"""The embedded demo PACS: a Query/Retrieve SCP on loopback with sample studies.

It lets anyone try find, C-MOVE and C-GET on one machine, and it is the peer
the integration tests and the GUI's first start use when nothing else is
configured. The protocol decisions live in :mod:`.service`; this module
only sets up the pynetdicom AE, the presentation contexts and the lifecycle.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any

from pydicom.uid import UID
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts
from pynetdicom.sop_class import Verification

from qrscope.core.engine import setup as pynetdicom_setup
from qrscope.demo_pacs.behaviour import DemoPacsBehaviour
from qrscope.demo_pacs.busy import RetrieveGateCounts
from qrscope.demo_pacs.index import QR_SOP_CLASSES, IndexedInstance, InstanceIndex
from qrscope.demo_pacs.samples import build_sample_studies
from qrscope.demo_pacs.service import MoveDestinations, QueryRetrieveService

__all__ = ["DEMO_AE_TITLE", "DemoPacs"]

_LOGGER = logging.getLogger("qrscope.demo_pacs")
DEMO_AE_TITLE = "DEMOPACS"


class DemoPacs:
    """A running (after :meth:`start`) demo Query/Retrieve SCP.

    Parameters
    ----------
    data_folder : Path, optional
        DICOM files to serve. ``None``: the bundled sample studies, written to
        a private temporary folder that :meth:`stop` removes.
    ae_title, host, port : str, str, int
        Where it listens; port 0 picks a free port (see :attr:`port`).
    destinations : Mapping[str, tuple[str, int]], optional
        Move destination AE titles and their (host, port).
    behaviour : DemoPacsBehaviour, optional
        How it behaves on the wire; the default is a polite PACS.
    """

    def __init__(
        self,
        data_folder: Path | None = None,
        ae_title: str = DEMO_AE_TITLE,
        host: str = "127.0.0.1",
        port: int = 0,
        destinations: Mapping[str, tuple[str, int]] | None = None,
        behaviour: DemoPacsBehaviour | None = None,
    ) -> None:
        self.ae_title = ae_title
        self.host = host
        self._requested_port = port
        self.behaviour = behaviour or DemoPacsBehaviour()
        self.destinations = MoveDestinations(destinations)
        self._data_folder = data_folder
        self._own_folder: Path | None = None
        self._loaded: Future[InstanceIndex] | None = None
        self._loader: threading.Thread | None = None
        self._service: QueryRetrieveService | None = None
        self._server: Any = None

    @property
    def port(self) -> int:
        """The port listened on (the real one once started, even if 0 was asked)."""
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._requested_port

    @property
    def is_running(self) -> bool:
        """Whether the PACS is listening."""
        return self._server is not None

    @property
    def instances(self) -> tuple[IndexedInstance, ...]:
        """What the PACS serves (empty before :meth:`start`; waits while it loads)."""
        return self._loaded.result().instances if self._loaded is not None else ()

    def store_attempts(self) -> dict[str, int]:
        """C-STORE sub-operations of C-MOVEs sent so far, by SOP Instance UID."""
        return self._service.store_attempts() if self._service is not None else {}

    def retrieve_counts(self) -> RetrieveGateCounts:
        """C-MOVEs and C-GETs running now, the most at once, and how many 'busy' refused."""
        return (self._service.retrieve_counts() if self._service is not None
                else RetrieveGateCounts(0, 0, 0))

    def add_destination(self, ae_title: str, host: str, port: int) -> None:
        """Allow C-MOVE to `ae_title` at `host`:`port`; applies to the next C-MOVE."""
        self.destinations.add(ae_title, host, port)

    def remove_destination(self, ae_title: str) -> None:
        """Forget the C-MOVE destination `ae_title` (no error if unknown)."""
        self.destinations.remove(ae_title)

    def start(self) -> None:
        """Load the data and listen; raises ``OSError`` when the port cannot be bound."""
        self.start_listening()
        try:
            self.wait_loaded()
        except BaseException:
            self.stop()
            raise

    def start_listening(self) -> None:
        """Listen now; the bundled samples are written and indexed behind, in a thread.

        Writing the samples takes most of a second, which the window's first
        start would otherwise wait through before it can list the PACS (issue
        21). An association that asks for data meanwhile waits for it (the
        handlers wait on the index). A folder of the user's is indexed before
        listening, as before: its SOP classes decide the C-GET contexts; the
        bundled samples hold only classes the AE offers anyway. Raises
        ``OSError`` when the port cannot be bound.
        """
        if self._server is not None:
            return
        loaded: Future[InstanceIndex] = Future()
        held: set[str] = set()
        if self._data_folder is None:
            self._own_folder = Path(tempfile.mkdtemp(prefix="qrscope-demo-pacs-"))
        else:
            index = InstanceIndex.load(self._data_folder)
            loaded.set_result(index)
            held = {str(record.sop_class_uid) for record in index.instances}
        try:
            service = QueryRetrieveService(loaded, self.ae_title, self.destinations,
                                           self.behaviour)
            self._server = self._make_ae(held).start_server(
                (self.host, self._requested_port), block=False,
                evt_handlers=service.evt_handlers())
        except BaseException:
            # Never leave a generated folder behind when start() fails.
            self._remove_own_folder()
            raise
        self._service, self._loaded = service, loaded
        if self._own_folder is None:
            self._log_started(loaded.result())
            return
        self._loader = threading.Thread(target=self._load_samples,
                                        args=(self._own_folder, loaded),
                                        daemon=True, name="demo-pacs-samples")
        self._loader.start()

    def wait_loaded(self) -> None:
        """Wait until the data is indexed; raises what loading it raised."""
        if self._loaded is not None:
            self._loaded.result()

    def _load_samples(self, folder: Path, loaded: Future[InstanceIndex]) -> None:
        try:
            build_sample_studies(folder)
            index = InstanceIndex.load(folder)
        except BaseException as exc:  # the handlers and start() raise it
            _LOGGER.error("demo PACS samples could not be written to %s: %s", folder, exc)
            loaded.set_exception(exc)
            return
        loaded.set_result(index)
        self._log_started(index)

    def _log_started(self, index: InstanceIndex) -> None:
        _LOGGER.info("demo PACS %s on %s:%d with %d instances", self.ae_title, self.host,
                     self.port, len(index.instances))

    def _make_ae(self, held: set[str]) -> AE:
        """The AE; as C-GET storage contexts, every class it knows and every one it holds."""
        b = self.behaviour
        pynetdicom_setup.prepare()  # answers promptly, like our own side
        ae = AE(ae_title=self.ae_title)
        ae.require_called_aet = b.require_called_ae_title
        ae.acse_timeout = b.acse_timeout
        ae.dimse_timeout = b.dimse_timeout
        ae.network_timeout = b.network_timeout
        ae.connection_timeout = b.connection_timeout
        ae.maximum_associations = b.max_associations
        ae.add_supported_context(Verification)
        if b.allowed_calling_ae_titles:
            ae.require_calling_aet = list(b.allowed_calling_ae_titles)
        for model in QR_SOP_CLASSES:
            if b.offer_get or "Get" not in (UID(model).keyword or ""):
                ae.add_supported_context(model)
        # For C-GET the peer proposes storage contexts in which it takes the
        # SCP role; accept them in every syntax so files go out as stored.
        # Private and retired classes it holds too: pynetdicom's list names
        # only current standard ones, and a C-GET requestor that learnt the
        # class from C-FIND proposes it (PS3.4 C.4.3.1.2).
        known = [str(context.abstract_syntax) for context in StoragePresentationContexts]
        for sop_class in dict.fromkeys([*known, *sorted(held)]):
            ae.add_supported_context(sop_class, ALL_TRANSFER_SYNTAXES,
                                     scu_role=True, scp_role=True)
        return ae

    def stop(self) -> None:
        """Stop listening and remove the generated samples; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
        loader, self._loader = self._loader, None
        if loader is not None:  # never remove the folder it is writing into
            loader.join()
        self._remove_own_folder()

    def _remove_own_folder(self) -> None:
        if self._own_folder is not None:
            shutil.rmtree(self._own_folder, ignore_errors=True)
            self._own_folder = None

    def __enter__(self) -> DemoPacs:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
