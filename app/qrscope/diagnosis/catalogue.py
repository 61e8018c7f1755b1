"""Every hint id qrscope can give, with its meaning: the source of docs/TROUBLESHOOTING.md.

A :class:`~qrscope.diagnosis.hints.Hint` can only be built with an id
listed here, and the troubleshooting page is generated from this table
(``scripts/gen-troubleshooting.py``; a test fails when the page is stale), so
the app and the docs cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOGUE", "CatalogueEntry", "catalogue_ids", "troubleshooting_markdown"]


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    title: str
    meaning: str
    evidence: str
    fix: str


def _e(id_: str, title: str, meaning: str, evidence: str, fix: str) -> CatalogueEntry:
    return CatalogueEntry(id_, title, meaning, evidence, fix)


CATALOGUE: tuple[CatalogueEntry, ...] = (
    _e("host-not-found", "The host name does not resolve",
       "The node's host name could not be turned into an IP address.",
       "the resolver's error for the name",
       "Correct the host name, use the IP address, or connect the VPN that knows the name."),
    _e("connection-refused", "Nothing listens at the node's port",
       "The computer answered, but refused the TCP connection at once.",
       "errno ECONNREFUSED, host and port",
       "Check the port; check that the PACS service runs; check the PACS's own firewall."),
    _e("connection-timeout", "No answer from the node",
       "The TCP connection got no answer within the connect timeout: packets are dropped.",
       "the timeout, host and port",
       "Check the address, the route or VPN, and firewalls between here and the PACS."),
    _e("connection-failed", "The connection failed for another reason",
       "The TCP connection failed with an error other than refused or timed out.",
       "the operating system's error", "Read the error; check the network."),
    _e("association-rejected-called-aet", "The PACS does not answer to that AE title",
       "A-ASSOCIATE-RJ, service user, 'called AE title not recognised'.",
       "result, source and diagnostic of the rejection; the called AE title sent",
       "Correct the node's AE title (case-sensitive)."),
    _e("association-rejected-calling-aet", "The PACS does not know our AE title",
       "A-ASSOCIATE-RJ, service user, 'calling AE title not recognised'.",
       "the calling AE title we sent",
       "Ask the PACS administrator to register our AE title (with our IP address), or use "
       "the title the PACS already knows."),
    _e("association-rejected", "The PACS rejected the association",
       "A-ASSOCIATE-RJ for another reason (busy, protocol, no reason given).",
       "the decoded result, source and diagnostic", "Retry later; check the PACS's logs."),
    _e("association-aborted", "The association was aborted",
       "A-ABORT or the connection closed, during negotiation or during a retrieve. Some "
       "PACS (Orthanc) abort instead of rejecting an unknown calling AE title.",
       "abort source and reason; how far the retrieve got",
       "Check that the PACS knows our AE title; retry what is missing."),
    _e("calling-aet-not-allowed", "The PACS does not let our AE title query or retrieve",
       "The PACS accepted the association, then aborted it right after our C-FIND, C-MOVE "
       "or C-GET request, without any response. Orthanc does exactly this when the calling "
       "AE title is not in its DicomModalities (unless DicomAlwaysAllowFind/Move/Get is "
       "set).",
       "that the PACS aborted (not us), no response at all, nothing received, and how fast",
       "Ask the PACS administrator to register our AE title and IP address (qrscope gives "
       "the entry for Orthanc, dcmqrscp, Conquest, dcm4chee-arc and Horos), or use the AE "
       "title the PACS already knows."),
    _e("no-accepted-context", "The PACS does not offer the service we need",
       "The association was accepted but the presentation context for the operation (e.g. "
       "C-GET, Patient Root) was refused.",
       "the SOP class wanted and the ones accepted",
       "Use what the PACS accepted: C-MOVE instead of C-GET, Study Root instead of "
       "Patient Root."),
    _e("tls-unknown-ca", "The node's certificate is not from a CA we trust",
       "DICOM over TLS (PS3.15 B.1): the node's certificate chain does not lead to a "
       "certificate in our CA file (or, without one, the system's trusted CAs). Often a "
       "PACS with a hospital-internal or self-signed certificate.",
       "OpenSSL's verify code and message, the CA file used",
       "Ask the PACS administrator for the CA certificate that signed the PACS's "
       "certificate (PEM) and set it as the node's CA file."),
    _e("tls-name-mismatch", "The node's certificate is for another host",
       "The certificate is valid but names neither the host name nor the IP address "
       "configured for the node, so it may belong to another server.",
       "OpenSSL's verify message, the host we called",
       "Call the node by a name its certificate lists (ask the administrator which), or "
       "have the certificate reissued with this name."),
    _e("tls-certificate-expired", "The node's certificate has expired",
       "The certificate is outside its validity period (expired, or not valid yet: check "
       "this computer's clock too).",
       "OpenSSL's verify message",
       "Ask the PACS administrator to renew the certificate; check the date and time here."),
    _e("tls-not-offered", "The node does not speak TLS on that port",
       "We started a TLS handshake and the node answered in plain DICOM or closed the "
       "connection: the port is a plain DICOM port, or TLS is off on the node.",
       "OpenSSL's error (e.g. wrong version number, unexpected end of file)",
       "Use the node's TLS port (often 2762), or switch TLS off for this node if the "
       "network is trusted."),
    _e("tls-required", "The node expects TLS",
       "We called without TLS and the connection closed; a TLS handshake on the same port "
       "succeeds, so the port expects DICOM over TLS.",
       "that the connection closed without a DICOM answer and the port completes a TLS "
       "handshake",
       "Switch TLS on for the node (with the CA that signed its certificate)."),
    _e("tls-handshake-failed", "The TLS handshake failed",
       "The TLS handshake failed for another reason: most often the node wants a client "
       "certificate we did not send, or refused ours, or no TLS version or cipher is "
       "common to both.",
       "OpenSSL's error or the node's TLS alert",
       "Set our certificate and key for the node (signed by a CA the node trusts); ask "
       "the PACS administrator which TLS versions it accepts."),
    _e("tls-settings-invalid", "A TLS file cannot be used",
       "The CA file, certificate or key set for the node is missing, not PEM, or the key "
       "does not belong to the certificate; nothing was sent.",
       "the setting and the file", "Correct the file in the node's TLS settings."),
    _e("listener-tls-invalid", "The listener's TLS settings cannot be used",
       "The listener's certificate or key is missing or they do not belong together, so "
       "the listener cannot start with TLS.",
       "the setting and the file", "Correct the listener's certificate and key."),
    _e("user-identity-rejected", "The node rejected our user identity",
       "We sent a user identity (PS3.7 D.3.3.7) and the node rejected the association; "
       "our AE titles were not the reason it gave. pynetdicom-based servers answer "
       "'transient, service provider, no reason given'; others 'permanent, service user'.",
       "the rejection's result, source and diagnostic; the user name (never the passcode)",
       "Check the user name and passcode for this node (the passcode is in the system "
       "keyring); ask the PACS administrator whether the account may use DICOM."),
    _e("user-identity-passcode-missing", "No passcode for the node",
       "The node is set to send a user name and passcode, but qrscope has none for it: "
       "the system keyring holds none (or is locked), or, on a computer without a password "
       "store, none was entered since qrscope started (it keeps one in memory until you "
       "quit, never on disk); nothing was sent.",
       "the user name and the keyring's error",
       "Enter the passcode in the node's settings: it is kept in the system keyring, or, "
       "without one, until you quit."),
    _e("move-destination-unknown", "The PACS answered that it cannot find the move destination",
       "C-MOVE needs the PACS to look up the destination AE title in its own table. The "
       "answer 0xA801 (or Orthanc's immediate 0xC000 without counts) says it found nothing, "
       "but pynetdicom-based servers answer 0xA801, and Orthanc 0xC000, also when they know "
       "the destination and nothing answers at its address. Unless the doctor's control "
       "C-MOVE to a made-up AE title tells the two apart, qrscope names both, most likely "
       "first, with what to do for each.",
       "final status, counts, time, that no association came back to our listener, and "
       "(doctor) the answer to a made-up AE title",
       "Ask the PACS administrator whether our AE title is in its table of move "
       "destinations: if not, add it (qrscope gives the entry for Orthanc, dcmqrscp, "
       "Conquest, dcm4chee-arc and Horos); if it is, correct the address and port "
       "registered for it."),
    _e("reverse-connection-failed", "The PACS could not connect back to us",
       "The PACS knows the destination but its connection to our listener was refused, "
       "dropped or went elsewhere (wrong registered address or port, firewall, NAT).",
       "final status (0xA702, 0xC000, or 0xB000 with all failed), the time it took (about "
       "10 s for Orthanc when packets are dropped) and no incoming association",
       "Open the listener port in the firewall, correct the address registered on the "
       "PACS, forward the port through NAT, or retrieve with C-GET."),
    _e("move-destination-mismatch", "The move destination is not our AE title",
       "The C-MOVE named another destination than the AE title our listener answers to.",
       "the destination sent and our AE title",
       "Clear the node's move destination (it then defaults to our AE title)."),
    _e("listener-port-in-use", "The listener port is taken",
       "Another program listens on our port; it would receive the images of a C-MOVE.",
       "the port and, where the system says, the program holding it",
       "Stop that program or choose another port (and tell the PACS)."),
    _e("listener-port-privileged", "The listener port needs administrator rights",
       "Ports below 1024 (such as 104) can only be opened with special rights.",
       "the port", "Use a port above 1024, such as 11112, and tell the PACS."),
    _e("listener-not-running", "Our listener is not running",
       "A C-MOVE to us needs our storage listener; it is stopped or could not start (the "
       "bind address is not on this machine, the storage folder cannot be created).",
       "the listener's error", "Start the listener; correct its bind address or folder."),
    _e("listener-loopback-only", "The listener only accepts local connections",
       "Bound to 127.0.0.1 while the PACS is on another host: its connection cannot arrive.",
       "the bind address and the PACS host", "Listen on 0.0.0.0 (all interfaces)."),
    _e("patient-id-unknown", "A Patient Root retrieve without the Patient ID was refused",
       "Under Patient Root a retrieve names the study's patient (PS3.4 C.4.2.2.1). None was "
       "given, qrscope could not learn it from the PACS (its C-FIND did not answer it), "
       "and the PACS refused the request without it (dcmqrscp --check-move: 0xA900).",
       "the model, the final status, that the request's Patient ID was empty",
       "Give the Patient ID (retrieve --patient-id; in the window, retrieve from a search "
       "result, which carries it), or use Study Root for the node."),
    _e("success-with-nothing-sent", "The PACS answered success but sent nothing",
       "The final response was success with zero sub-operations, and no instance arrived. "
       "Most often the identifier matched nothing on the PACS (a Patient ID that differs "
       "from the PACS's with Patient Root, or a study its index lists but its storage "
       "lacks); a non-conformant PACS may also answer first and send afterwards (qrscope "
       "keeps listening for a grace period).",
       "final status, sub-operation counts, instances received (also after the final "
       "response) and how many the C-FIND listed",
       "Search the study again at image level; check the Patient ID (or use Study Root); "
       "ask the PACS administrator whether the study's files are online."),
    _e("images-after-final-response", "Images arrived after the final response",
       "The PACS sent its final C-MOVE response before the images (not allowed by DICOM); "
       "qrscope waits a grace period and keeps them.",
       "the instances that arrived after the final response",
       "Nothing for this retrieve; tools that stop listening at the final response lose "
       "images with this PACS."),
    _e("fewer-images-than-reported", "The PACS sent more than arrived here",
       "The PACS reports N sub-operations completed but our listener received fewer for "
       "this job: another program listens as our AE title, or the PACS has another "
       "address registered for it.",
       "completed count against received count",
       "Ask the PACS administrator which address is registered for our AE title."),
    _e("unexpected-instance", "An instance arrived that no retrieve asked for",
       "Our listener stored an instance that matches no running job (kept, not dropped).",
       "sender, address and UIDs", "Check which program sends to our AE title."),
    _e("unexpected-sender", "An unknown program tried to send us images",
       "A caller that is none of our nodes (AE title, from the node's host) associated with "
       "our listener. With the listener accepting known nodes only (the default), it was "
       "refused with A-ASSOCIATE-RJ and nothing was stored; accepting any caller, its "
       "instances were kept but credited to no retrieve.",
       "the calling AE title, its address, and why it was refused",
       "Add it as a node if it is a modality or PACS you expect, allow it for this session, "
       "or find out who sends to our AE title and port."),
    _e("conflicting-copy", "Some instances differ from files already stored under their UID",
       "Instances of this retrieve arrived whose SOP Instance UID names a file already in the "
       "storage folder with other content: another sender stored a different object under "
       "the same UID first (a forged or modified copy, or a PACS that reuses UIDs). "
       "qrscope never overwrites a stored file: the retrieved instance is kept beside it as "
       "UID~hash.dcm.",
       "the instances, the file each one's own name holds, and where the retrieved one is",
       "Compare the two files; remove the one that is not from the PACS; find out which "
       "program stored the other (the association log names every sender)."),
    _e("move-originator-wrong", "The PACS fills the Move Originator fields wrongly",
       "The images of this C-MOVE came from the PACS under its own AE title, but their "
       "Move Originator fields (PS3.7 9.3.1.1: the AE title and Message ID of the C-MOVE "
       "they answer) name the PACS itself, or a Message ID of no request of ours. qrscope "
       "matched them to the retrieve by their UIDs, as they were in its scope and no other "
       "retrieve asked for them; tools that trust the fields lose the whole retrieve.",
       "the fields the PACS sent, and the retrieve's own AE title and Message ID",
       "Nothing is needed for this retrieve. Two retrieves of the same study at once cannot "
       "be told apart with this PACS; report it to its vendor."),
    _e("move-sender-other-aet", "The PACS sends under another AE title",
       "The C-MOVE's images came from the PACS's host under an AE title other than the "
       "node's; they named our request (Move Originator), so they were accepted.",
       "the node's AE title, the one the images came under, and the host",
       "Nothing is needed for retrieves; add that AE title as a node so that images it "
       "sends at other times (routing, pushes) are accepted too."),
    _e("profiles-file-damaged", "The profiles file could not be read as it is",
       "The file of nodes and local settings was damaged or has values of the wrong type. "
       "qrscope started anyway: a file it could not read at all was copied aside first, and "
       "settings it could not read are kept in the file as written.",
       "the file, the copy set aside, and each setting that was refused, by name",
       "Correct the settings named (in the window, or in the file), or restore the copy."),
    _e("find-failed", "The search failed",
       "The PACS answered the C-FIND with a failure status.",
       "the status and its meaning",
       "Narrow the search (some PACS refuse searches that match too much); check the keys."),
    _e("suboperations-failed", "Some instances could not be sent",
       "The PACS reported failed sub-operations (Failed SOP Instance UID List).",
       "the failed UIDs and the final status", "Retry the failed instances."),
    _e("out-of-resources", "The PACS is out of resources",
       "0xA7xx: the PACS could not start or finish the operation.",
       "the status", "Retry later, or retrieve smaller parts."),
    _e("dimse-timeout", "The PACS stopped making progress",
       "No response and no instance within the idle limit; qrscope ended the retrieve.",
       "the limit and how far it got", "Raise the idle limit for slow archives; retry."),
    _e("get-store-rejected", "Instances received by C-GET could not be stored",
       "qrscope could not write or parse received data (full disk, unreadable data, kept in "
       "quarantine).", "the UIDs and errors", "Free disk space; check the storage folder."),
    _e("send-class-not-accepted", "The node does not take some SOP classes from us",
       "A send proposed a storage class and the node accepted no presentation context for "
       "it (PS3.8 9.3.3.2): its instances were not sent.",
       "the classes refused, the node's AE title and address, how many instances",
       "Ask the node's administrator to accept the class (Orthanc: "
       "UnknownSopClassAccepted, DCMTK: the storescp profile), or send elsewhere."),
    _e("send-instances-failed", "The node refused some instances",
       "A C-STORE of a send was answered with a failure status (PS3.4 B.2.3: out of "
       "resources, data set does not match the class, cannot understand), or could not be "
       "converted to a syntax the node accepted.",
       "per status: its code, meaning and how many instances; the node's AE title and address",
       "Read the node's log for the status; retry what failed once the cause is fixed."),
)


def catalogue_ids() -> frozenset[str]:
    return frozenset(entry.id for entry in CATALOGUE)


def troubleshooting_markdown() -> str:
    """docs/TROUBLESHOOTING.md, generated: one section per hint id."""
    lines = [
        "# Troubleshooting: every hint qrscope gives",
        "",
        "Generated from `app/qrscope/diagnosis/catalogue.py` by",
        "`scripts/gen-troubleshooting.py`; do not edit by hand. The window and",
        "`--json` output name hints by these ids, with the real AE titles, addresses",
        "and ports filled in.",
        "",
    ]
    for entry in CATALOGUE:
        lines += [f"## `{entry.id}`: {entry.title}", "", entry.meaning, "",
                  f"**Evidence:** {entry.evidence}.", "", f"**What to do:** {entry.fix}", ""]
    return "\n".join(lines)
