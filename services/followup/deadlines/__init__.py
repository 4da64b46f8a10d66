"""Followup's deadline clocks and their durable timers, in the service template (domain, app, store,
handlers): which marks are due is decided apart from the scheduler that fires them."""
