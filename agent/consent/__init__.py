"""Consent: grants, receipts, the hash-chained audit log, and the gate every upstream message passes.

Everything here is pure (rows and grants in, decisions and rows out); ``ledger`` holds the SQL.
"""
