"""Hints for a send from the archive: the refusal, the classes, the failed instances.

A refused association gets the same hints a query or a retrieve gets
(:func:`~qrscope.diagnosis.hints.hint_for_failure`: the called AE title the
peer does not answer to, our calling AE title it does not know, an abort),
with the real titles and address. Two are a send's own: SOP classes the
peer accepted no context for, and instances it answered with a failure.
"""

from __future__ import annotations

from collections import Counter

from pydicom.uid import UID

from qrscope.core.profiles import LocalAE, RemoteNode
from qrscope.core.send.types import InstanceState, SendOutcome
from qrscope.diagnosis.hints import Action, Hint, hint_for_failure

__all__ = ["hints_for_send"]


def _where(node: RemoteNode) -> str:
    return f"'{node.ae_title}' at {node.host}:{node.port}"


def hints_for_send(outcome: SendOutcome, node: RemoteNode, local: LocalAE) -> list[Hint]:
    """What to tell the user about *outcome*, most important first."""
    hints: list[Hint] = []
    if outcome.failure is not None:
        hints.append(hint_for_failure(outcome.failure, node, local))
    if outcome.refused_classes:
        hints.append(_classes_refused(outcome, node, local))
    failed = [r for r in outcome.results if r.state is InstanceState.FAILED
              and r.sop_class_uid not in outcome.refused_classes]
    if failed:
        by_reason = Counter(
            (f"0x{r.status.code:04X} {r.status.meaning}" if r.status else r.reason)
            for r in failed)
        hints.append(Hint(
            id="send-instances-failed",
            title=f"{len(failed)} instance(s) were not stored by '{node.name}'",
            summary=f"{_where(node)} did not store {len(failed)} instance(s): "
                    + "; ".join(f"{n} × {why}" for why, n in by_reason.most_common()) + ".",
            evidence={"node": node.name, "called_ae": node.ae_title,
                      "address": f"{node.host}:{node.port}",
                      "reasons": dict(by_reason), "failed_uids": [r.sop_instance_uid
                                                                  for r in failed]},
            causes=["the node is out of space or refuses the data set",
                    "no installed decoder converts a compressed syntax the node does not take"],
            actions=[Action("Retry what failed", "retry-job")]))
    return hints


def _classes_refused(outcome: SendOutcome, node: RemoteNode, local: LocalAE) -> Hint:
    names = [f"{UID(c).name} ({c})" if UID(c).name != c else c
             for c in outcome.refused_classes]
    count = sum(1 for r in outcome.results
                if r.state is InstanceState.FAILED and r.sop_class_uid in outcome.refused_classes)
    return Hint(
        id="send-class-not-accepted",
        title=f"'{node.name}' does not take {len(names)} SOP class(es) from us",
        summary=f"{_where(node)} accepted the association from '{local.ae_title}' but no "
                f"presentation context for {', '.join(names)}: {count} instance(s) of "
                "those classes were not sent.",
        evidence={"node": node.name, "called_ae": node.ae_title, "calling_ae": local.ae_title,
                  "address": f"{node.host}:{node.port}", "classes": outcome.refused_classes,
                  "instances": count},
        causes=["the node stores only the classes it was configured for (Orthanc refuses "
                "classes it does not know unless UnknownSopClassAccepted is on)",
                "the node is a viewer or router that takes images only"],
        actions=[Action(f"Ask the administrator of '{node.ae_title}' to accept "
                        f"{', '.join(outcome.refused_classes)}", "copy",
                        value=", ".join(outcome.refused_classes)),
                 Action("Send those instances to another node")])
