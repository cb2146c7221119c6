"""Intentcasting: the owner announces what they want offers for; vendors answer; the owner may reply.

    hearth intent create ──> control action ──> ledger (intent row + audit) ──> market.exchange
    market.exchange: one MQTT connection per intent (random client id, no will), retained intent with
    MQTT 5 message expiry, offers from the reply topic ──> inbox.intake ──> ledger (offer rows + audit)

``model`` holds the vocabulary, the intent and offer messages and the topics (pure); ``inbox`` decides
what becomes of an incoming offer (pure); ``shown`` passes what an intent shows through the consent gate;
``ledger`` holds the SQL; ``market`` moves bytes between the ledger and the broker.
"""
