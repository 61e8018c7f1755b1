"""Why a retrieve did not bring everything: hints from the outcome's evidence.

A status code alone rarely names the cause (Orthanc answers 0xC000 both for
an unknown destination and for a refused reverse connection; dcmqrscp
answers 0xA702 for a refused reverse connection and for instances it cannot
convert). The evidence used here is the status together with the
sub-operation counts, the time the answer took, and whether our listener saw
the PACS connect back during the job (see docs/PACS-BEHAVIOUR.md).
"""

from __future__ import annotations

from qrscope.core.dicom.status import IDENTIFIER_DOES_NOT_MATCH, StatusCategory, StatusInfo
from qrscope.core.profiles import LocalAE, QueryModel, RemoteNode, RetrieveMethod
from qrscope.core.query.find import FindResult
from qrscope.core.receive.listener import RefusedCaller
from qrscope.core.receive.reception import ReceivedInstance
from qrscope.core.retrieve.types import RetrieveOutcome
from qrscope.diagnosis.hints import Action, Hint, hint_for_failure, use_model
from qrscope.diagnosis.move_hints import (
    MoveEvidence,
    is_out_of_resources,
    move_hints,
    our_address,
    outcome_evidence,
    refused_under_load,
)
from qrscope.diagnosis.pacs_entries import CallingAeEntry, reachable_address

__all__ = ["hint_for_find", "hint_for_find_aborted", "hint_for_find_result",
           "hint_for_refused_caller", "hint_for_sender_alias", "hint_for_unexpected",
           "hints_for_retrieve"]

# Orthanc aborts a caller it does not know within milliseconds of the request.
REFUSED_CALLER_WITHIN_SECONDS = 2.0


def _common_hints(outcome: RetrieveOutcome, node: RemoteNode, local: LocalAE) -> list[Hint]:
    final = outcome.final_status
    hints: list[Hint] = []
    if final is None and not outcome.timed_out:
        hints.append(_refused_caller(outcome, node, local) if _looks_like_refused_caller(outcome)
                     else _aborted(outcome, node, local))
    if outcome.timed_out:
        hints.append(Hint(
            id="dimse-timeout", title=f"'{node.name}' stopped making progress",
            summary=f"Nothing happened for {node.timeouts.retrieve_idle:g} s "
                    f"({outcome.timed_out} limit): no response and no instance, so the "
                    "retrieve was ended.",
            evidence=outcome_evidence(outcome, limit=outcome.timed_out),
            causes=["the PACS is fetching from a slow archive", "the PACS hung"],
            actions=[Action("Edit the node's idle limit", "edit-node", "timeouts"),
                     Action("Retry", "retry-job")]))
    if is_out_of_resources(final):
        hints.append(Hint(id="out-of-resources", title=f"'{node.name}' is out of resources",
                          summary=f"The PACS answered {final}.", evidence=outcome_evidence(outcome),
                          actions=[Action("Retry later, or retrieve a series at a time")]))
    elif refused_under_load(outcome):
        hints.append(_refused_under_load(outcome, node))
    if outcome.failed_uids or (outcome.failed and outcome.stored):
        hints.append(Hint(
            id="suboperations-failed",
            title=f"{outcome.failed} instance(s) could not be sent",
            summary=f"The PACS reported {final} for some instances"
                    + (f": {', '.join(outcome.failed_uids[:5])}" if outcome.failed_uids
                       else "") + ".",
            evidence=outcome_evidence(outcome, failed_uids=outcome.failed_uids),
            causes=["the receiver did not accept their SOP class or transfer syntax",
                    "the PACS could not read them from its storage"],
            actions=[Action("Retry the failed instances", "retry-job")]))
    not_stored = [r for r in outcome.received if not r.ok]
    if not_stored and outcome.method is RetrieveMethod.GET:
        hints.append(_store_rejected(not_stored, "get-store-rejected"))
    return hints


def _refused_under_load(outcome: RetrieveOutcome, node: RemoteNode) -> Hint:
    reached = (" It connected back to us and sent nothing, so the way back works."
               if outcome.incoming_associations else "")
    return Hint(
        id="out-of-resources", title=f"'{node.name}' is out of resources",
        summary=f"The PACS answered {outcome.final_status} without sending an "
                f"instance.{reached}",
        evidence=outcome_evidence(outcome),
        causes=["the PACS serves only so many retrieves at once, and others (or this "
                "batch) are running",
                "its sender pool, memory or storage is exhausted for now"],
        actions=[Action("Retry later, with fewer retrieves at once on this node")])


def _looks_like_refused_caller(outcome: RetrieveOutcome) -> bool:
    """The PACS aborted at once, before any response or instance: it refused the caller.

    Orthanc accepts the association of an AE title it does not know, then
    answers its C-FIND/C-MOVE/C-GET with A-ABORT within milliseconds
    (docs/PACS-BEHAVIOUR.md). An abort after responses or instances, or after
    a long wait, is something else (a limit, a crash, the network).
    """
    return (outcome.peer_aborted and outcome.responses == 0 and not outcome.received
            and not outcome.incoming_associations
            and outcome.seconds < REFUSED_CALLER_WITHIN_SECONDS)


def _refused_caller(outcome: RetrieveOutcome, node: RemoteNode, local: LocalAE) -> Hint:
    address = our_address(outcome, node, local)
    entry = CallingAeEntry(local.ae_title, address, local.listener_port)
    request = "C-GET" if outcome.method is RetrieveMethod.GET else "C-MOVE"
    return Hint(
        id="calling-aet-not-allowed",
        title=f"'{node.name}' does not let '{local.ae_title}' retrieve",
        summary=f"The PACS accepted the association, then aborted it "
                f"{outcome.seconds:.2f} s after our {request} request, without a single "
                "response: what a PACS does when it serves only AE titles it knows "
                f"(Orthanc: DicomModalities), and '{local.ae_title}' is not one of them.",
        evidence=outcome_evidence(outcome, aborted_by="the PACS", request=request),
        causes=[f"'{local.ae_title}' is not registered on '{node.name}' as a node allowed "
                "to query and retrieve",
                f"it is registered with another IP address than {address}, and the PACS "
                "checks the address (Orthanc: DicomCheckModalityHost)",
                "the PACS failed on the request itself (its log says which)"],
        actions=[Action("Copy the request for the PACS administrator", "copy",
                        value=entry.card()),
                 *[Action(f"Copy the {name} entry", "copy", value=text)
                   for name, text in entry.snippets().items()],
                 Action("Edit our AE title (to one the PACS knows)", "edit-local", "ae_title")])


def _aborted(outcome: RetrieveOutcome, node: RemoteNode, local: LocalAE) -> Hint:
    by = "the PACS aborted" if outcome.peer_aborted else "the association closed"
    causes = ["the PACS aborted (an internal error, or a limit on transfer size)",
              "a network device cut the connection"]
    if outcome.peer_aborted and outcome.responses == 0 and not outcome.received:
        causes.insert(1, f"the PACS does not let '{local.ae_title}' retrieve (it answered "
                         f"after {outcome.seconds:.1f} s, slower than a refusal usually is)")
    return Hint(
        id="association-aborted", title=f"'{node.name}' ended the retrieve without an answer",
        summary=f"{by.capitalize()} after {len(outcome.stored)} instance(s) and "
                f"{outcome.responses} response(s), before the final response.",
        evidence=outcome_evidence(outcome, aborted_by="the PACS" if outcome.peer_aborted
                           else "unknown"),
        causes=causes, actions=[Action("Retry what is missing", "retry-job")])


def _success_with_nothing(outcome: RetrieveOutcome, node: RemoteNode,
                          local: LocalAE) -> Hint | None:
    """Final success with zero sub-operations and nothing here: never a silent success."""
    final = outcome.final_status
    if (final is None or final.category is not StatusCategory.SUCCESS or outcome.received
            or outcome.late or outcome.completed + outcome.failed + outcome.warning):
        return None
    listed = outcome.expected
    causes: list[str] = []
    if listed:
        causes.append(f"the PACS's index lists {listed} instance(s) for it, but it found none "
                      "to send: the files are missing from its storage (deleted, offline, a "
                      "broken migration)")
    if node.query_model is QueryModel.PATIENT_ROOT:
        causes.append("with Patient Root the Patient ID is part of the request: one that "
                      "differs from the PACS's (another issuer, a typing error) matches "
                      "nothing")
    causes.append("the identifier matched nothing on the PACS (the study is not, or no "
                  "longer, there)" if listed is None else
                  "the PACS holds no instance for it" if listed == 0 else
                  "the PACS resolves the request differently from its C-FIND")
    if outcome.method is RetrieveMethod.MOVE:
        if outcome.move_destination == local.ae_title:
            causes.append("a non-conformant PACS that answers first and sends later: qrscope "
                          "keeps listening for a grace period, and keeps what comes in it")
        else:
            causes.insert(0, f"the move destination '{outcome.move_destination}' is not us: "
                             "what the PACS sends goes there, where qrscope cannot see it")
    actions = [Action("Search the study again at image level to see what the PACS lists"),
               Action("Retry", "retry-job")]
    if node.query_model is QueryModel.PATIENT_ROOT:
        actions.insert(0, use_model(node, QueryModel.STUDY_ROOT))
    return Hint(
        id="success-with-nothing-sent",
        title=f"'{node.name}' answered success but sent nothing",
        summary=f"The final response was {final} with zero sub-operations, and no instance "
                "arrived" + (f", although the search listed {listed}." if listed else "."),
        evidence=outcome_evidence(outcome, expected=listed if listed is not None else "not asked"),
        causes=causes, actions=actions)


def _store_rejected(items: list[ReceivedInstance], hint_id: str) -> Hint:
    return Hint(
        id=hint_id, title=f"{len(items)} received instance(s) could not be stored",
        summary="; ".join(f"{r.sop_instance_uid}: {r.error}" for r in items[:3]),
        evidence={"count": len(items)},
        causes=["the disk is full or the folder is not writable",
                "the data could not be parsed (kept in the quarantine folder)"],
        actions=[Action("Edit the storage folder", "edit-local", "storage_folder")])


def hints_for_retrieve(outcome: RetrieveOutcome, node: RemoteNode, local: LocalAE,
                       listener_port: int | None = None,
                       unexpected: list[ReceivedInstance] | None = None,
                       destination_known: bool | None = None) -> list[Hint]:
    """The hints for *outcome*, most likely cause first; empty for a clean success.

    *destination_known* is what a control C-MOVE to a made-up AE title showed
    (the doctor): ``True`` when it got another answer than ours (so the PACS
    knows our destination), ``False`` when it got the same; ``None``: not asked.
    """
    if outcome.failure is not None:
        return [hint_for_failure(outcome.failure, node, local)]
    if outcome.cancelled:
        return []
    port = listener_port or local.listener_port
    hints = move_hints(MoveEvidence(outcome, node, local, port, destination_known)) \
        if outcome.method is RetrieveMethod.MOVE else []
    hints += _common_hints(outcome, node, local)
    empty = _success_with_nothing(outcome, node, local)
    if empty is not None:
        hints.insert(0, empty)
    if outcome.patient_id_missing and _refused_outright(outcome):
        # 0xA900 "identifier does not match SOP class" is the refusal of the
        # identifier itself (dcmqrscp --check-move); other refusals have their
        # own hints first, and the missing Patient ID is one more cause.
        final = outcome.final_status
        where = 0 if final is not None and final.code == IDENTIFIER_DOES_NOT_MATCH else \
            len(hints)
        hints.insert(where, _patient_id_unknown(outcome, node))
    if unexpected:
        hints.append(hint_for_unexpected(unexpected[0], {node.ae_title}))
    if outcome.sender_aliases:
        hints.append(hint_for_sender_alias(outcome, node))
    if outcome.originator_quirk:
        hints.append(_originator_quirk(outcome, node, local))
    conflicts = _conflicting_copies(outcome, node)
    if conflicts is not None:
        hints.append(conflicts)
    return hints


def _originator_quirk(outcome: RetrieveOutcome, node: RemoteNode, local: LocalAE) -> Hint:
    """The PACS's sub-operations named nobody's request in their Move Originator fields."""
    return Hint(
        id="move-originator-wrong",
        title=f"'{node.name}' fills the Move Originator fields wrongly",
        summary=f"Its images came with {outcome.originator_quirk} instead of our AE title "
                f"'{local.ae_title}' and our request's Message ID (PS3.7 9.3.1.1). qrscope "
                "matched them to this retrieve by their UIDs; nothing was lost.",
        evidence={"sent": outcome.originator_quirk, "our_ae_title": local.ae_title,
                  "node_ae_title": node.ae_title},
        causes=["the PACS writes its own AE title, or a fixed Message ID, where the C-MOVE's "
                "requester belongs"],
        actions=[Action("Nothing is needed; report it to the PACS's vendor")])


def _conflicting_copies(outcome: RetrieveOutcome, node: RemoteNode) -> Hint | None:
    """Retrieved instances that sit beside a different object filed under their UID first."""
    beside = [r.stored for r in outcome.stored if r.stored is not None and r.stored.conflict]
    if not beside:
        return None
    first = beside[0]
    own_name = first.path.with_name(f"{first.sop_instance_uid}.dcm")
    count = f"{len(beside)} instance{'s' if len(beside) != 1 else ''}"
    return Hint(
        id="conflicting-copy",
        title=f"{count} from '{node.name}' differ from files already stored under their UID",
        summary=f"{own_name} already held a different object when the instance retrieved "
                f"from {node.host} arrived; that one is kept beside it as {first.path.name}, "
                "and nothing was overwritten.",
        evidence={"instances": [r.sop_instance_uid for r in beside[:20]],
                  "already_stored": str(own_name), "retrieved_copy": str(first.path)},
        causes=["another sender stored a different object under the same UID first (a "
                "forged or modified copy)",
                "the PACS gives one UID to different objects"],
        actions=[Action("Compare the two files and remove the one that is not the PACS's")])


def _refused_outright(outcome: RetrieveOutcome) -> bool:
    final = outcome.final_status
    return (final is not None and final.category is StatusCategory.FAILURE
            and not outcome.stored)


def _patient_id_unknown(outcome: RetrieveOutcome, node: RemoteNode) -> Hint:
    """Patient Root, no Patient ID given or learnt, and the PACS refused the request."""
    final = outcome.final_status
    code = f"0x{final.code:04X}" if final else "no status"
    return Hint(
        id="patient-id-unknown",
        title=f"'{node.name}' needs the study's Patient ID for a Patient Root retrieve",
        summary=f"The request went out without a Patient ID and the PACS refused it ({code}): "
                "under Patient Root a retrieve names the study's patient (PS3.4 C.4.2.2.1), "
                "and the PACS did not tell it when qrscope asked.",
        evidence=outcome_evidence(outcome, query_model=node.query_model.value),
        causes=["no Patient ID was given: on the command line, retrieve --patient-id ID; in "
                "the window, retrieve from a search result, which carries it",
                "the PACS does not answer C-FIND for the study, so its Patient ID could not "
                "be learnt"],
        actions=[use_model(node, QueryModel.STUDY_ROOT)])


def hint_for_unexpected(item: ReceivedInstance, known_ae_titles: set[str]) -> Hint:
    """An instance our listener kept although no job asked for it."""
    known = item.calling_ae in known_ae_titles
    return Hint(
        id="unexpected-instance" if known else "unexpected-sender",
        title=(f"'{item.calling_ae}' sent an instance no retrieve asked for" if known else
               f"An unknown sender, '{item.calling_ae}', sent us images"),
        summary=f"{item.sop_instance_uid} from {item.calling_ae} at {item.peer_address} was "
                "stored, but matches no running retrieve.",
        evidence={"calling_ae": item.calling_ae, "address": item.peer_address,
                  "originator": item.originator_ae or "none"},
        causes=["a retrieve that was cancelled or timed out is still being sent"] if known
        else ["another program or PACS sends to our AE title and port",
              "a colleague's retrieve names our AE title as its destination"])


def hint_for_refused_caller(refused: RefusedCaller) -> Hint:
    """A caller our listener turned away (accept policy: known nodes only)."""
    who = f"{refused.calling_ae}@{refused.address}"
    return Hint(
        id="unexpected-sender",
        title=f"'{refused.calling_ae}' at {refused.address} was not allowed to send to us",
        summary=f"Our listener refused the association: {refused.reason}. Nothing it sent "
                "was stored.",
        evidence={"calling_ae": refused.calling_ae, "address": refused.address,
                  "called_ae": refused.called_ae, "reason": refused.reason},
        causes=["a modality, PACS or router that should send to us and is not configured "
                "as a node (or is, with another AE title or host)",
                "a program on the network that sends to our AE title and port"],
        actions=[Action(f"Add '{refused.calling_ae}' ({refused.address}) as a node",
                        "add-sender", value=who),
                 Action("Allow it until the listener stops", "allow-sender", value=who)])


def hint_for_sender_alias(outcome: RetrieveOutcome, node: RemoteNode) -> Hint:
    aliases = ", ".join(f"'{a}'" for a in outcome.sender_aliases)
    return Hint(
        id="move-sender-other-aet",
        title=f"'{node.name}' sends its images as {aliases}",
        summary=f"The images of this C-MOVE came from {node.host} under {aliases}, not "
                f"'{node.ae_title}'. They named our request, so they were accepted.",
        evidence={"node_ae_title": node.ae_title, "sent_as": outcome.sender_aliases,
                  "host": node.host},
        causes=["the PACS uses a separate AE title for sending (a storage SCU)"],
        actions=[Action(f"Add {aliases} as a node so that it may send at other times too",
                        "add-sender", value=f"{outcome.sender_aliases[0]}@{node.host}")])


def hint_for_find_result(result: FindResult, node: RemoteNode, local: LocalAE) -> Hint | None:
    """The hint for a search that failed or went unanswered; None when it did neither."""
    if result.unanswered:
        return hint_for_find_aborted(node, local, result.ended_after, result.local_address)
    if result.failed and result.status is not None:
        return hint_for_find(result.status, node)
    return None


def hint_for_find(status: StatusInfo, node: RemoteNode) -> Hint:
    return Hint(id="find-failed", title=f"'{node.name}' refused the search",
                summary=f"The PACS answered the C-FIND with {status}.",
                evidence={"status": f"0x{status.code:04X}", "meaning": status.meaning},
                causes=["the search matches too much for the PACS's limits",
                        "a key or value the PACS does not support"],
                actions=[Action("Narrow the search (a date range, a modality)")])


def hint_for_find_aborted(node: RemoteNode, local: LocalAE, seconds: float,
                          our_address: str = "") -> Hint:
    """A C-FIND that ended without any response (not even a failure status).

    Orthanc answers the C-FIND of a caller it does not know with A-ABORT
    right after the request; shown as an empty result it would read as "no
    such study". *our_address*: our end of the search's association; the
    entry names it, or the route to the PACS, never the listener's wildcard.
    """
    address = reachable_address(our_address, node.host, node.port, local.bind_address)
    entry = CallingAeEntry(local.ae_title, address, local.listener_port)
    quick = seconds < REFUSED_CALLER_WITHIN_SECONDS
    refused = (f"'{local.ae_title}' is not registered on '{node.name}' as a node allowed to "
               "query (Orthanc: DicomModalities)")
    crashed = "the PACS failed on the search itself (its log says which)"
    return Hint(
        id="calling-aet-not-allowed",
        title=f"'{node.name}' ended the search without an answer",
        summary=f"The PACS accepted the association, then closed it {seconds:.2f} s after "
                "our C-FIND request without a single response. This is not an empty "
                "result: a PACS that serves only AE titles it knows does this.",
        evidence={"responses": 0, "seconds": round(seconds, 2), "calling_ae": local.ae_title},
        causes=[refused, crashed] if quick else [crashed, refused],
        actions=[Action("Copy the request for the PACS administrator", "copy",
                        value=entry.card()),
                 *[Action(f"Copy the {name} entry", "copy", value=text)
                   for name, text in entry.snippets().items()],
                 Action("Edit our AE title (to one the PACS knows)", "edit-local", "ae_title")])
