"""The operator <-> worker contract: models both sides share, defined once.

The operator embeds these models in the BrandMonitor API (so they become CRD schema) and
renders them into worker settings; workers parse them back. Pure pydantic, no I/O.
"""
