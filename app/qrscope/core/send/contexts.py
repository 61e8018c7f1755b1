"""The presentation contexts of a send, and how many associations they need.

For each SOP class of the selection we propose, one context per transfer
syntax (an accepted context carries exactly one, PS3.8 9.3.2.2, so a shared
context would be accepted with one syntax and force a conversion): every
syntax an instance of the class is held in, then Explicit and Implicit VR
Little Endian (PS3.5 A.2, A.1), which every Storage SCP must accept
(PS3.4 B.4.1 requires the default, Implicit VR Little Endian). A peer that
accepts the syntax an instance is held in gets its file as it is; one that
accepts only an uncompressed one gets a converted copy
(:mod:`~qrscope.core.send.convert`).

One association request holds at most 128 contexts (the context ID is an
odd byte, PS3.8 9.3.2.2); a selection whose classes need more is sent over
several associations, a class's contexts always on the same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pynetdicom import build_context

from qrscope.core.retrieve.contexts import MAX_CONTEXTS, UNCOMPRESSED
from qrscope.core.send.selection import SendItem

__all__ = ["AssociationPlan", "plan_associations", "syntaxes_proposed"]


@dataclass
class AssociationPlan:
    """One association of a send: its contexts and the instances it carries."""

    contexts: list[Any] = field(default_factory=list)
    items: list[SendItem] = field(default_factory=list)


def syntaxes_proposed(held: Sequence[str]) -> list[str]:
    """The syntaxes proposed for a class whose instances are held in *held*, in order."""
    return list(dict.fromkeys([*(s for s in held if s), *UNCOMPRESSED]))


def plan_associations(items: Sequence[SendItem],
                      limit: int = MAX_CONTEXTS) -> list[AssociationPlan]:
    """Contexts for *items*, as few associations as the 128-context limit allows.

    Classes keep the order of their first instance; each goes on the first
    association with room for all its contexts.
    """
    held: dict[str, list[str]] = {}
    for item in items:
        syntaxes = held.setdefault(item.sop_class_uid, [])
        if item.transfer_syntax not in syntaxes:
            syntaxes.append(item.transfer_syntax)
    plans: list[AssociationPlan] = []
    where: dict[str, AssociationPlan] = {}
    for sop_class, syntaxes in held.items():
        contexts = [build_context(sop_class, ts) for ts in syntaxes_proposed(syntaxes)]
        plan = next((p for p in plans if len(p.contexts) + len(contexts) <= limit), None)
        if plan is None:
            plan = AssociationPlan()
            plans.append(plan)
        plan.contexts.extend(contexts)
        where[sop_class] = plan
    for item in items:
        where[item.sop_class_uid].items.append(item)
    return plans
