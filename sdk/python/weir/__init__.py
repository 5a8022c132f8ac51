"""Write weir transform plugins in Python.

A transform receives a columnar batch and returns which rows it keeps, the
columns it computes, and the rows it rejects (they go to the dead-letter with
the reason). A first transform::

    import weir

    class Shout(weir.Transform):
        def describe(self, input):
            input.require("name")
            return weir.Plan(input)

        def process(self, batch):
            return batch.map("name", lambda row: row["name"] and row["name"].upper())

    Transformer = weir.export(Shout)

Build it into a component with ``componentize-py`` (see sdk/python/README.md).
Column types are named as in the contract: ``bool``, ``int32``, ``int64``,
``float32``, ``float64``, ``utf8``, ``binary``, ``date32``,
``timestamp[s|ms|us|ns]``, ``decimal128(P,S)`` (values are ``decimal.Decimal``),
``list`` (``Field.list(name, item)``, values are lists) and ``struct``
(``Field.struct(name, members)``, values are dicts keyed by member name).
"""

from .schema import Field, Plan, Schema
from .batch import Batch, Row
from .output import Output
from .transform import Config, Transform, WeirError, export

__all__ = ["Batch", "Config", "Field", "Output", "Plan", "Row", "Schema", "Transform", "WeirError", "export"]
