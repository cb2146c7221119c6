"""Reflexive learning: the owner labels spans of time, and the hub adapts its models on the device.

    labels.py    the owner's labels (a span of time on a model is "class X"), in the ledger
    head.py      a light classifier head over a model's embedding, in NumPy (pure)
    adapt.py     fit a candidate head and keep it only if it is not worse (pure)
    versions.py  adapted versions with their cards, in the ledger; which one runs; reset
    service.py   the hub path: labelled windows -> embeddings -> adapt -> a stored version, if one was kept
    outcome.py   what an adaptation came to, in one sentence for the owner (CLI and dashboard)

Nothing here leaves the home: labels are owner data, and a version is learnt and kept on the hub.
"""
