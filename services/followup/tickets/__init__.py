"""A ticket's life at followup: dispatched, contacts, resolutions, callbacks, extensions, on-site
reports, worklists and the timeline, in the service template (domain, app, store, handlers, http)."""
