"""What a running qrscope holds: profiles, the association log, the listener, the demo PACS.

The GUI owns one :class:`Session`; keeping it in the core means the rules
(first start uses the demo PACS, the listener follows the local AE settings,
shutdown stops everything) are the same wherever qrscope runs, and testable
without Qt.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from qrscope.core.net.association_log import AssociationLog
from qrscope.core.profile_store import Profiles, ProfileStore
from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.receive.listener import StorageListener
from qrscope.core.receive.storage import InstanceStore
from qrscope.demo_pacs import DemoPacs, configure

__all__ = ["DEMO_NODE_NAME", "Session"]

_LOGGER = logging.getLogger(__name__)
DEMO_NODE_NAME = "Demo PACS (built in)"


class Session:
    """Profiles, log, listener and (when used) the embedded demo PACS."""

    def __init__(self, store: ProfileStore) -> None:
        self.store = store
        self.first_start = not store.exists()
        self.profiles: Profiles = store.load()
        for problem in self.profiles.problems:
            _LOGGER.warning("profiles file %s: %s", store.path, problem)
        self.log = AssociationLog(
            mask_patient_identifiers=self.profiles.local.mask_patient_identifiers)
        self.listener: StorageListener | None = None
        # The window starts and stops the listener in worker threads, and a
        # queued C-MOVE may start it from its job's thread: one at a time, or
        # two starts would bind twice and the second say "port in use".
        self._listener_lock = threading.RLock()
        self.demo_pacs: DemoPacs | None = None
        self.demo_fault: str | None = None

    @property
    def local(self) -> LocalAE:
        return self.profiles.local

    def save(self) -> None:
        self.store.save(self.profiles)

    def set_local(self, local: LocalAE) -> None:
        """Apply new local AE settings; a running listener is restarted to follow them.

        Raises ``ListenerError`` when the restart fails (the settings stay applied).
        """
        with self._listener_lock:
            was_running = self.listener is not None and self.listener.is_running
            self.profiles.local = local
            self.log.mask_patient_identifiers = local.mask_patient_identifiers
            if was_running:
                self.stop_listener()
                self.start_listener()

    def start_listener(self) -> StorageListener:
        """Start the listener on the local AE settings; raises ``ListenerError``.

        Thread-safe; binding may block (a name to resolve, a port in use), so
        the window calls it from a worker.
        """
        with self._listener_lock:
            if self.listener is not None and self.listener.is_running:
                return self.listener
            # The nodes as they are at each C-STORE: a node added meanwhile may send.
            listener = StorageListener(self.local, self.log,
                                       InstanceStore(self.local.storage_folder),
                                       known_nodes=lambda: list(self.profiles.nodes))
            listener.start()
            self.listener = listener
            return listener

    def address_towards(self, node: RemoteNode) -> str:
        """Our address on the interface that carries traffic to *node*, never a wildcard:
        the address the PACS must register for us, not 127.0.0.1 when the PACS is
        elsewhere (:func:`~qrscope.diagnosis.pacs_entries.reachable_address`)."""
        from qrscope.diagnosis.pacs_entries import reachable_address

        return reachable_address("", node.host, node.port, self.local.bind_address)

    def free_listener_port(self) -> int:
        """A port nothing listens on now, on the listener's bind address."""
        import socket

        with socket.socket() as probe:
            probe.bind((self.local.bind_address, 0))
            return int(probe.getsockname()[1])

    def stop_listener(self) -> None:
        """Stop it; waits up to a second for its associations (thread-safe)."""
        with self._listener_lock:
            if self.listener is not None:
                self.listener.stop()

    def start_demo_pacs(self, fault: str | None = None) -> RemoteNode:
        """Start the embedded demo PACS (knowing our AE at our listener) and add it as a node.

        With *fault*, a running demo PACS is replaced by one that shows that
        failure (see ``qrscope.demo_pacs.faults``).
        """
        if self.demo_pacs is not None and fault != self.demo_fault:
            self.demo_pacs.stop()
            self.demo_pacs = None
        if self.demo_pacs is None:
            port = self.listener.port if self.listener else self.local.listener_port
            behaviour, destinations = configure(
                fault, {self.local.ae_title: ("127.0.0.1", port)})
            pacs = DemoPacs(host="127.0.0.1", port=0, destinations=destinations,
                            behaviour=behaviour)
            # Listening is enough to list it: its samples load behind (issue 21).
            pacs.start_listening()
            self.demo_pacs = pacs
            self.demo_fault = fault
        pacs = self.demo_pacs
        node = RemoteNode(name=DEMO_NODE_NAME, ae_title=pacs.ae_title, host="127.0.0.1",
                          port=pacs.port)
        # One assignment: the window may read the list while this runs in a worker.
        self.profiles.nodes = [node, *(n for n in self.profiles.nodes
                                       if n.name != DEMO_NODE_NAME)]
        return node

    def demo_knows_listener(self) -> None:
        """Tell the demo PACS where our listener really is (after a port change)."""
        if self.demo_fault in ("unknown-destination", "unreachable-destination"):
            return  # those faults are about the PACS *not* knowing it
        if self.demo_pacs is not None and self.listener is not None:
            self.demo_pacs.add_destination(self.local.ae_title, "127.0.0.1", self.listener.port)

    def nodes_to_save(self) -> Profiles:
        """Profiles without the demo node, whose port changes every run."""
        return replace(self.profiles, nodes=[n for n in self.profiles.nodes
                                             if n.name != DEMO_NODE_NAME])

    def close(self) -> None:
        """Stop the listener and the demo PACS; save the profiles."""
        self.stop_listener()
        if self.demo_pacs is not None:
            self.demo_pacs.stop()
            self.demo_pacs = None
        try:
            self.store.save(self.nodes_to_save())
        except OSError as exc:
            _LOGGER.error("could not save profiles to %s: %s", self.store.path, exc)
