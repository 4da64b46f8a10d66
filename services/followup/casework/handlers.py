"""Casework's Kafka side: none of its own, and this module says where it is.

Casework consumes no topic. A unit's system signs and notes through `followup.commands`, which
followup's ticket handlers carry out in order with the ticket's other commands (their refusals are
`FollowupCommandRefused` events); the brief's facts of a ticket (`store.received_facts`) are
written by followup's store with the dispatch that carries the received ticket. What casework
publishes (`DemandCollected`, `CaseMarked`, collected demands on `hotline.raw`) its use cases
publish (`app.py`).
"""
