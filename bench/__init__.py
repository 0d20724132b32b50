"""Benchmarks: commands that measure and print (`make bench`), not timed tests.

Each module runs alone as `python -m bench.<name>`, starts what it needs (the local
platform in BRANDMON_PLATFORM_DIR, default `.platform`), prints progress to stderr and
its results as one final JSON line on stdout, and writes `bench/results/<name>.json`.
"""
