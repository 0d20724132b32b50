"""brandmon's pipeline workers: collector, analyzers, builtin engine, notifier, archiver.

Every worker runs from the same image through the `brandmon-worker <role>` console script,
configured only by environment variables that the operator renders. Nothing here imports
the operator.
"""
