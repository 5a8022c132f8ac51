"""Schemas and plans, with the contract's flat field tables hidden."""

import re

from wit_world.imports import types as wit

_SIMPLE = {
    "bool": wit.DataType_Boolean,
    "int32": wit.DataType_Int32,
    "int64": wit.DataType_Int64,
    "float32": wit.DataType_Float32,
    "float64": wit.DataType_Float64,
    "utf8": wit.DataType_Utf8,
    "binary": wit.DataType_Binary,
    "date32": wit.DataType_Date32,
}
_UNITS = {"s": wit.TimeUnit.SECOND, "ms": wit.TimeUnit.MILLISECOND, "us": wit.TimeUnit.MICROSECOND, "ns": wit.TimeUnit.NANOSECOND}


def _field_from_wit(table, i):
    f = table[i]
    t = f.data_type
    for name, cls in _SIMPLE.items():
        if isinstance(t, cls):
            return Field(f.name, name, f.nullable)
    if isinstance(t, wit.DataType_Timestamp):
        unit = {v: k for k, v in _UNITS.items()}[t.value.unit]
        return Field(f.name, f"timestamp[{unit}]", f.nullable, timezone=t.value.timezone)
    if isinstance(t, wit.DataType_Decimal128):
        return Field(f.name, f"decimal128({t.value.precision},{t.value.scale})", f.nullable)
    if isinstance(t, wit.DataType_List):
        return Field(f.name, "list", f.nullable, item=_field_from_wit(table, t.value))
    if isinstance(t, wit.DataType_Struct):
        return Field(f.name, "struct", f.nullable, members=[_field_from_wit(table, m) for m in t.value])
    raise TypeError(f"column `{f.name}`: type {t} is not supported by the Python SDK")


def _push_field(table, field):
    """Appends ``field`` (children first) to the flat field table; returns its index."""
    t = field.type
    if t in _SIMPLE:
        data_type = _SIMPLE[t]()
    elif t == "list":
        data_type = wit.DataType_List(_push_field(table, field.item))
    elif t == "struct":
        data_type = wit.DataType_Struct([_push_field(table, m) for m in field.members])
    elif field.decimal() is not None:
        precision, scale = field.decimal()
        data_type = wit.DataType_Decimal128(wit.DecimalType(precision, scale))
    elif t.startswith("timestamp[") and t.endswith("]") and t[10:-1] in _UNITS:
        data_type = wit.DataType_Timestamp(wit.TimestampType(_UNITS[t[10:-1]], field.timezone))
    else:
        raise ValueError(f"column `{field.name}`: unknown column type {t!r}")
    table.append(wit.Field(field.name, data_type, field.nullable))
    return len(table) - 1


class Field:
    """A named, typed column. ``type`` is a simple type name,
    ``timestamp[s|ms|us|ns]`` (with an optional ``timezone``),
    ``decimal128(P,S)``, ``list`` (items described by ``item``, a Field) or
    ``struct`` (members described by ``members``, Fields)."""

    def __init__(self, name, type, nullable=True, item=None, members=None, timezone=None):
        self.name, self.type, self.nullable = name, type, nullable
        self.item, self.members, self.timezone = item, members, timezone

    @staticmethod
    def list(name, item, nullable=True):
        return Field(name, "list", nullable, item=item)

    @staticmethod
    def struct(name, members, nullable=True):
        return Field(name, "struct", nullable, members=list(members))

    def decimal(self):
        """``(precision, scale)`` of a ``decimal128(P,S)`` field, else None."""
        m = re.fullmatch(r"decimal128\((\d+),\s*(-?\d+)\)", self.type)
        return None if m is None else (int(m.group(1)), int(m.group(2)))

    def __repr__(self):
        return f"Field({self.name!r}, {self.type!r}, nullable={self.nullable})"


class Schema:
    """The columns of a batch, in order."""

    def __init__(self, fields):
        self.fields = list(fields)

    def index_of(self, name):
        for i, f in enumerate(self.fields):
            if f.name == name:
                return i
        return None

    def field(self, name):
        i = self.index_of(name)
        return None if i is None else self.fields[i]

    def require(self, name):
        """The field called ``name``; an error naming the columns that exist otherwise."""
        f = self.field(name)
        if f is None:
            names = ", ".join(f.name for f in self.fields)
            raise WeirError(f"input has no column `{name}` (it has: {names})")
        return f

    def with_field(self, field):
        """A copy with ``field`` replacing the column of its name, or appended."""
        fields = [field if f.name == field.name else f for f in self.fields]
        if self.index_of(field.name) is None:
            fields.append(field)
        return Schema(fields)

    @staticmethod
    def _from_wit(schema):
        return Schema(_field_from_wit(schema.fields, i) for i in schema.columns)

    def _to_wit(self):
        table = []
        columns = [_push_field(table, f) for f in self.fields]
        return wit.Schema(table, columns)


class Plan:
    """What a transform outputs for an input schema; ``reads`` lists the only
    input columns it needs (the host then sends nothing else)."""

    def __init__(self, output, reads=None):
        self.output, self.reads = output, reads

    def _to_wit(self, input):
        projection = None
        if self.reads is not None:
            projection = []
            for name in self.reads:
                input.require(name)
                projection.append(input.index_of(name))
        return wit.Plan(self.output._to_wit(), projection)


from .transform import WeirError  # noqa: E402  (shared error type)
