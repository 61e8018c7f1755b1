"""What the hint bar's buttons do: one handler per action kind, looked up in a table.

A button either does what its label says (``set-node``, ``set-local``: the
setting is changed, saved, and the bar says so in words) or is labelled
"Edit ..." and only takes the user to the field (``edit-node``, ``edit-local``).
"""

from __future__ import annotations

import socket
import weakref
from collections.abc import Callable
from dataclasses import replace

from qrscope.core.profiles import QueryModel, RemoteNode, RetrieveMethod
from qrscope.diagnosis.hints import Action
from qrscope.ui.actions import HintTarget
from qrscope.ui.bridge import spawn

__all__ = ["HintActions", "node_change"]


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
            "set-node": self._set_node,
            "set-local": self._set_local,
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

    def _set_node(self, action: Action) -> None:
        """Change the hint's node as the label says, save it, and say what changed."""
        w = self.w
        node = next((n for n in w.session.profiles.nodes if n.name == action.node), None)
        if node is None:
            w.hints.confirm(f"There is no node '{action.node}' any more: nothing was changed")
            return
        changed, words = node_change(node, action)
        w.editor.replace_node(node.name, changed)
        w.save_profiles()
        w.hints.confirm(words)
        self._status(words)

    def _set_local(self, action: Action) -> None:
        """Change our listener's address or port, restart it there, save, and say so."""
        w = self.w
        local = w.session.local
        if action.field == "bind_address":
            local = replace(local, bind_address=action.value)
            done = f"Listening on all interfaces ({action.value}) now; retrieve again"
        else:
            port = int(action.value)
            if not _port_free(local.bind_address, port):
                port = w.session.free_listener_port()
            local = replace(local, listener_port=port)
            done = (f"Listener moved to port {port}; tell the PACS administrator, then "
                    "retrieve again")
        w.editor.show_local(local)
        w.hints.confirm("Restarting the listener…")

        async def apply() -> None:
            if await w.apply_local(local):
                w.save_profiles()
                w.hints.confirm(done)
                self._status(done)
            else:
                w.hints.confirm("The listener could not restart with the new setting: "
                                "nothing was saved")

        spawn(apply())

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


def node_change(node: RemoteNode, action: Action) -> tuple[RemoteNode, str]:
    """*node* changed as a ``set-node`` action says, and the words that confirm it."""
    if action.field == "tls":
        on = action.value == "on"
        words = (f"TLS switched on for {node.name}; verify or search again (set its CA file "
                 "if its certificate is not from a CA this computer trusts)" if on else
                 f"TLS switched off for {node.name}; search again")
        return replace(node, tls=replace(node.tls, enabled=on)), words
    if action.field == "query_model":
        model = QueryModel(action.value)
        words = "Study Root" if model is QueryModel.STUDY_ROOT else "Patient Root"
        return (replace(node, query_model=model),
                f"{node.name} now uses the {words} model; search again")
    if action.field == "move_destination":
        return (replace(node, move_destination=action.value),
                f"{node.name}'s move destination cleared: C-MOVE now sends to our own AE "
                "title; retrieve again")
    raise ValueError(f"a hint cannot set the node's {action.field!r}")


def _port_free(address: str, port: int) -> bool:
    """Nothing listens on *port* at *address* now (a bind says; nothing is kept)."""
    try:
        with socket.socket() as probe:
            probe.bind((address, port))
    except OSError:
        return False
    return True
