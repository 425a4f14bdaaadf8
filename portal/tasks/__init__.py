"""The job handlers: what a worker runs for each ``JobKind``.

They sit beside the blueprints and the CLI, as the third kind of caller of services: each reloads
its rows, checks the current state, calls services or integrations, and is safe to run again. The
machinery that records, dispatches and runs them is ``portal.jobs``, below the services.
"""
