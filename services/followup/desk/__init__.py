"""The centre's desk: who is calling, the ticket search, the requests waiting for a decision."""
