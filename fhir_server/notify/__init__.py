"""Notifications: a Communication for the record and an e-mail through the outbox.

``Notifier.enqueue`` is the one entry point for every feature (care circle,
pathway steps, break-glass, directory requests): inside the caller's
transaction it stores a ``Communication`` addressed to the recipient and
queues the French e-mail rendered from the kind's template in the outbox
(``storage.outbox``); ``worker.OutboxWorker`` delivers it after the commit,
over SMTP (``FHIR_SMTP_URL``) or as ``.eml`` files, with retries and backoff.
"""
