"""The Local view: what the archive on this computer holds, looked at, sent on, deleted."""
