"""Schemas and plans, with the contract's flat field tables hidden."""

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


def _type_name(data_type):
    for name, cls in _SIMPLE.items():
        if isinstance(data_type, cls):
            return name
    if isinstance(data_type, wit.DataType_Timestamp):
        unit = {v: k for k, v in _UNITS.items()}[data_type.value.unit]
        return f"timestamp[{unit}]"
    raise TypeError(f"column type {data_type} is not supported by the Python SDK yet")


def _wit_type(name):
    if name in _SIMPLE:
        return _SIMPLE[name]()
    if name.startswith("timestamp[") and name.endswith("]") and name[10:-1] in _UNITS:
        return wit.DataType_Timestamp(wit.TimestampType(_UNITS[name[10:-1]], None))
    raise ValueError(f"unknown column type {name!r}")


class Field:
    """A named, typed column."""

    def __init__(self, name, type, nullable=True):
        self.name, self.type, self.nullable = name, type, nullable

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
        return Schema(Field(schema.fields[i].name, _type_name(schema.fields[i].data_type), schema.fields[i].nullable) for i in schema.columns)

    def _to_wit(self):
        fields = [wit.Field(f.name, _wit_type(f.type), f.nullable) for f in self.fields]
        return wit.Schema(fields, list(range(len(fields))))


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
