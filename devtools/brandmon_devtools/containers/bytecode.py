"""Bytecode for the brandmon image: for what its processes import, and nothing else.

Run by the Dockerfile's builder with the image's own interpreter, after the install:

    python -m brandmon_devtools.containers.bytecode /opt/brandmon/lib/python3.11/site-packages

The root filesystem is read-only at run time, so bytecode that is not in the image is
compiled again in memory at every start: every module the operator and the workers import
needs it. Compiling the whole environment (72 MB) mostly served modules nothing imports
(scipy's and scikit-learn's many unused parts); they keep their source and still import,
just more slowly.

The libraries' imported modules keep their bytecode and lose their source, which the
interpreter does not read once bytecode is there; so does kubernetes' generated client as
a whole (34 MB of source, mostly docstrings; its models load lazily, by name). Tracebacks
through library code then show file and line without the source line. brandmon's own
packages keep both.

Uses the standard library only, apart from the modules it imports to see what they load.
"""

from __future__ import annotations

import importlib
import importlib.util
import py_compile
import sys
from pathlib import Path

# What the image's processes import: both console scripts, every worker role, and the
# models the text analyzer unpickles (they import their scikit-learn classes).
RUNTIME_MODULES = (
    "brandmon_operator.__main__",
    "brandmon_operator.handlers",
    "brandmon_workers.__main__",
    "brandmon_workers.roles",
    "brandmon_workers.text",
    "brandmon_workers.image",
    "brandmon_workers.engine",
    "brandmon_workers.notifier",
    "brandmon_workers.archiver",
    "brandmon_workers.collector.run",
)
# brandmon's own packages: every module compiled, imported or not, and source kept.
OWN = ("brandmon_operator", "brandmon_workers", "brandmon_devtools")
# Library packages shipped as bytecode only, imported or not.
SOURCELESS = ("kubernetes/client",)
_MODE = py_compile.PycInvalidationMode.UNCHECKED_HASH


def imported_sources(site: Path) -> set[Path]:
    """Import the runtime modules and return the source files under `site` that loaded."""
    for name in RUNTIME_MODULES:
        importlib.import_module(name)
    signals = importlib.import_module("brandmon_workers.signals")
    signals.load()
    found = set()
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if origin and origin.endswith(".py") and Path(origin).is_relative_to(site):
            found.add(Path(origin))
    return found


def plan(site: Path, imported: set[Path]) -> tuple[set[Path], set[Path]]:
    """Split the sources to compile into (source kept, sourceless)."""
    own = {path for package in OWN for path in (site / package).rglob("*.py")}
    sourceless = {path for package in SOURCELESS for path in (site / package).rglob("*.py")}
    return own, (imported | sourceless) - own


def apply(site: Path, keep: set[Path], sourceless: set[Path]) -> None:
    """Remove all bytecode, then write it for `keep` (in __pycache__) and `sourceless`.

    Sourceless modules get their bytecode where the source was (`x.pyc` in place of
    `x.py`), the only place the interpreter loads it from without a source.
    """
    for cache in list(site.rglob("__pycache__")):
        for compiled in cache.glob("*.pyc"):
            compiled.unlink()
        cache.rmdir()
    for path in keep:
        py_compile.compile(
            str(path), cfile=importlib.util.cache_from_source(str(path)),
            doraise=True, invalidation_mode=_MODE,
        )  # fmt: skip
    for path in sourceless:
        py_compile.compile(str(path), cfile=f"{path}c", doraise=True, invalidation_mode=_MODE)
        path.unlink()


def main() -> int:
    """Compile the bytecode of the environment whose site-packages is the argument."""
    site = Path(sys.argv[1]).resolve()
    keep, sourceless = plan(site, imported_sources(site))
    apply(site, keep, sourceless)
    print(f"bytecode: {len(keep)} modules compiled, {len(sourceless)} sourceless")
    return 0


if __name__ == "__main__":
    sys.exit(main())
