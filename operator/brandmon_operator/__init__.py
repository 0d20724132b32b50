"""The brandmon operator: reconciles BrandMonitor objects into a running pipeline.

Run it with the `brandmon-operator` console script (or `python -m brandmon_operator`).
"""
