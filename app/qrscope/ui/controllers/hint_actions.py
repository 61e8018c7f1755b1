"""What the hint bar's buttons do: one handler per action kind, looked up in a table."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import replace

from qrscope.core.profiles import RemoteNode, RetrieveMethod
from qrscope.diagnosis.hints import Action
from qrscope.ui.actions import HintTarget
from qrscope.ui.bridge import spawn

__all__ = ["HintActions"]


class HintActions:
    """Carries out an :class:`Action` of the hint on show, on the window's parts.

    Retries and switches go through the jobs controller, which gives them
    the node as it is now, not as it was when the failed job started.
    """

    def __init__(self, window: HintTarget) -> None:
        # A proxy, not a reference: the window owns this object, and a cycle
        # would leave the window's end to the garbage collector.
        self.w = weakref.proxy(window)
        self.handlers: dict[str, Callable[[Action], None]] = {
            "edit-node": self._edit_node,
            "edit-local": self._edit_local,
            "retry": self._verify_again,
            "listener-free-port": self._free_port,
            "retry-job": self._retry_job,
            "switch-to-get": lambda _a: self._again_with(RetrieveMethod.GET),
            "switch-to-move": lambda _a: self._again_with(RetrieveMethod.MOVE),
            "set-method": self._set_method,
            "add-sender": self._add_sender,
            "allow-sender": self._allow_sender,
        }

    def act(self, action: Action) -> None:
        """Do *action*; kinds without a handler (copy, advice) are done by the bar."""
        handler = self.handlers.get(action.kind)
        if handler is not None:
            handler(action)

    def _status(self, text: str) -> None:
        self.w.show_status(text)

    def _edit_node(self, action: Action) -> None:
        self.w.show_nodes()
        self.w.editor.focus_field(action.field)

    def _edit_local(self, action: Action) -> None:
        self.w.show_nodes()
        self.w.editor.focus_field("local_ae_title" if action.field == "ae_title"
                                  else action.field)

    def _verify_again(self, _action: Action) -> None:
        self.w.hints.clear()
        self.w.editor.request_verify()

    def _free_port(self, _action: Action) -> None:
        w = self.w
        w.hints.clear()
        local = replace(w.session.local, listener_port=w.session.free_listener_port())
        w.editor.show_local(local)

        async def move() -> None:
            # Both bind a port: in a worker, one after the other.
            if await w.apply_local(local) and await w.start_listener():
                self._status(f"Listener moved to port {local.listener_port}: tell the PACS "
                             "administrator")

        self._status(f"Moving the listener to port {local.listener_port}…")
        spawn(move())

    def _retry_job(self, _action: Action) -> None:
        job_id = self.w.hints.job_id
        if job_id:
            self.w.hints.clear()
            self.w.retry_job(job_id)

    def _again_with(self, method: RetrieveMethod) -> None:
        job_id = self.w.hints.job_id
        if job_id:
            self.w.hints.clear()
            self.w.again_with(job_id, method)

    def _set_method(self, action: Action) -> None:
        method = RetrieveMethod(action.value)
        node = self.w.editor.set_retrieve_method(method)
        if node is not None:
            self.w.hints.clear()
            self._status(f"'{node.name}' now retrieves with "
                         f"{'C-MOVE' if method is RetrieveMethod.MOVE else 'C-GET'}")

    def _add_sender(self, action: Action) -> None:
        """A caller the listener refused becomes a node: it may send from now on."""
        w = self.w
        w.hints.clear()
        ae_title, address = action.value.rsplit("@", 1)
        profiles = w.session.profiles
        node = RemoteNode(name=profiles.unique_name(ae_title), ae_title=ae_title, host=address,
                          port=104)
        profiles.nodes.append(node)
        w.editor.refresh(select=node.name)
        w.show_nodes()
        w.save_soon()
        self._status(f"'{ae_title}' at {address} added as a node and may send to us; set its "
                     "port to query it")

    def _allow_sender(self, action: Action) -> None:
        listener = self.w.session.listener
        if listener is None:
            return
        self.w.hints.clear()
        calling, address = action.value.rsplit("@", 1)
        listener.senders.allow(calling, address)
        self._status(f"'{calling}' at {address} may send to us until the listener stops")
