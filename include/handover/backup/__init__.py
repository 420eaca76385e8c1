"""Backups of the target store (issue 5): what to keep (:mod:`handover.backup.retention`); snapshot,
encryption, storage and restore follow."""
