"""Consent: grants, receipts, the hash-chained audit log, and the gate every upstream message passes.

Everything here is pure (rows and grants in, decisions and rows out); ``ledger`` holds the SQL, and
``outbox`` the table of admitted messages that ``agent.sync`` publishes (a revocation or an erasure here
purges or queues rows there, so it lives with consent).
"""
