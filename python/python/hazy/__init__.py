"""Hazy's probabilistic sketches as SQL functions for datafusion-python.

    >>> import datafusion, hazy
    >>> ctx = datafusion.SessionContext()
    >>> hazy.register_all(ctx)
    >>> ctx.sql("SELECT approx_count_distinct(x) AS n FROM (VALUES (1), (2), (2)) t(x)").to_pydict()
    {'n': [2]}

Every function of the Rust crate is here, built into this package's native library and handed
to DataFusion through its FFI (the ``datafusion-ffi`` crate): the same code, so states made
here equal, byte for byte, those that ``hazy sql`` or a Rust program makes from the same data.

The FFI carries neither DataFusion's ``Documentation`` (see :func:`functions`) nor plan-time
rewrites; Hazy checks its parameters again when a query runs, so a wrong parameter is an
exception naming the function, at the latest when the query executes.
"""

from __future__ import annotations

from typing import NamedTuple, Union

from . import _hazy

__version__: str = _hazy.__version__

__all__ = ["Function", "MemoryLimit", "functions", "register_all", "udf", "__version__"]


def _check_datafusion() -> None:
    """Refuses a ``datafusion`` whose FFI differs from the one this library was built for.

    The FFI structs are laid out per DataFusion major version; loading ours into another major
    reads them with the wrong layout and can crash the interpreter rather than raise, so this
    check runs at import, before any struct crosses.
    """
    wanted = _hazy.ffi_major_version()
    try:
        import datafusion
    except ImportError as e:  # pragma: no cover - pip installs it as a dependency
        raise ImportError(
            f"hazy needs the 'datafusion' package {wanted}.x: "
            f"pip install 'datafusion>={wanted},<{wanted + 1}'"
        ) from e
    installed = getattr(datafusion, "__version__", "unknown")
    major = installed.split(".", 1)[0]
    if major != str(wanted):
        raise ImportError(
            f"hazy {__version__} was built for DataFusion {wanted} (its FFI), but the installed "
            f"'datafusion' package is {installed}; functions cannot cross between DataFusion "
            f"major versions. Install a matching one: pip install 'datafusion>={wanted},<{wanted + 1}'"
        )


_check_datafusion()

import datafusion  # noqa: E402  (after the version check, on purpose)


class Function(NamedTuple):
    """One Hazy SQL function and its documentation (as in docs/SQL.md)."""

    name: str
    kind: str
    """``"aggregate"`` or ``"scalar"``."""
    description: str
    syntax: str
    arguments: list[tuple[str, str]]
    """(argument, what it is), in order."""
    example: str | None


def functions() -> list[Function]:
    """Every Hazy function with its documentation, in reference order.

    DataFusion's ``Documentation`` does not cross the FFI, so ``SHOW FUNCTIONS`` and
    ``information_schema`` list Hazy's functions without it: this is where it is.
    """
    return [Function(*f) for f in _hazy.functions()]


MemoryLimit = Union[int, str, None]
"""A memory limit for Hazy's sketches: bytes, a size as ``hazy sql --memory-limit`` takes it
(``"2G"``, ``"512M"``), ``"auto"`` or ``None`` (no bound)."""


def _memory_limit(caller: str, memory_limit: MemoryLimit) -> int | None:
    if memory_limit is None:
        return None
    if isinstance(memory_limit, str):
        return _hazy.memory_limit(memory_limit)
    if isinstance(memory_limit, bool) or not isinstance(memory_limit, int):
        raise TypeError(
            f"{caller}: memory_limit must be a number of bytes, a size such as '2G', 'auto' or "
            f"None, got {type(memory_limit).__name__}"
        )
    if memory_limit <= 0:
        raise ValueError(f"{caller}: memory_limit must be a positive number of bytes, got {memory_limit}")
    return memory_limit


def _exports(
    caller: str, memory_limit: MemoryLimit
) -> dict[str, datafusion.AggregateUDF | datafusion.ScalarUDF]:
    out: dict[str, datafusion.AggregateUDF | datafusion.ScalarUDF] = {}
    for f in _hazy.aggregates(_memory_limit(caller, memory_limit)):
        out[f.name] = datafusion.AggregateUDF.from_pycapsule(f)
    for f in _hazy.scalars():
        out[f.name] = datafusion.ScalarUDF.from_pycapsule(f)
    return out


def register_all(ctx: datafusion.SessionContext, memory_limit: MemoryLimit = "auto") -> None:
    """Registers every Hazy aggregate and scalar function with ``ctx`` (for SQL and DataFrames).

    ``memory_limit`` bounds the memory Hazy's sketches reserve as they are made: a batch's new
    sketches and decoded states, and what single-group and moving-frame aggregates hold. Over
    it, a query fails with "Resources exhausted" naming the function, rather than the process
    running out of memory. datafusion-python's own pool does not reach functions loaded
    through the FFI, so this is a pool of Hazy's, shared by the functions of this call:
    ``"auto"`` (the default) is 80% of the machine's or the container's memory, as
    ``hazy sql``; ``None`` sets no bound.
    """
    if not isinstance(ctx, datafusion.SessionContext):
        raise TypeError(
            f"hazy.register_all expects a datafusion.SessionContext, got {type(ctx).__name__}"
        )
    for function in _exports("hazy.register_all", memory_limit).values():
        if isinstance(function, datafusion.AggregateUDF):
            ctx.register_udaf(function)
        else:
            ctx.register_udf(function)


def udf(name: str, memory_limit: MemoryLimit = "auto") -> datafusion.AggregateUDF | datafusion.ScalarUDF:
    """One Hazy function as a datafusion-python function object, for the DataFrame API
    (``memory_limit`` as in :func:`register_all`).

        >>> from datafusion import col, lit
        >>> topk = hazy.udf("approx_topk")
        >>> df.aggregate([], [topk(col("entity"), lit(5)).alias("top")])  # doctest: +SKIP
    """
    exports = _exports("hazy.udf", memory_limit)
    try:
        return exports[name]
    except KeyError:
        raise KeyError(f"no Hazy function named {name!r}; hazy.functions() lists them") from None
