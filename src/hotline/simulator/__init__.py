"""The city simulator (`hotline simulate`): a Beijing-like city that calls the hotline.

`profiles` and `plan` are pure: from a seed they say what happens when (records the platform
receives, what each unit does, the callback surveys). `preview` estimates a plan's rankings
without any service. `adapter` plays the plan against the running system: it publishes records,
callbacks and business-time ticks on Kafka and acts through followup's HTTP API with each
unit's own token. `run` wires them to the command line with a rich progress display.
"""
