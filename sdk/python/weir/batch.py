"""The input batch: columns as Python lists (None for nulls), and row views."""

from wit_world.imports import types as wit

from .schema import Schema


def _valid(validity, i):
    return validity is None or (validity[i >> 3] >> (i & 7)) & 1 == 1


def _decode(array):
    """One array's values as a Python list, None for nulls."""
    n, validity, values = array.len, array.validity, array.values
    if isinstance(values, (wit.Values_Utf8, wit.Values_Binary)):
        offsets, data = values.value.offsets, values.value.bytes
        text = isinstance(values, wit.Values_Utf8)
        out = []
        for i in range(n):
            if not _valid(validity, i):
                out.append(None)
                continue
            raw = data[offsets[i]:offsets[i + 1]]
            out.append(raw.decode("utf-8") if text else bytes(raw))
        return out
    if isinstance(values, wit.Values_Boolean):
        return [((values.value[i >> 3] >> (i & 7)) & 1 == 1) if _valid(validity, i) else None for i in range(n)]
    if isinstance(values, (wit.Values_Int32, wit.Values_Int64, wit.Values_Float32, wit.Values_Float64, wit.Values_Timestamp, wit.Values_Date32)):
        vs = values.value
        return list(vs) if validity is None else [vs[i] if _valid(validity, i) else None for i in range(n)]
    raise TypeError(f"{type(values).__name__} columns are not supported by the Python SDK yet")


class Batch:
    """A batch of rows as the host sent it: only the columns the plan reads."""

    def __init__(self, inner):
        self._inner = inner
        self.schema = Schema._from_wit(inner.schema)
        self.num_rows = inner.num_rows
        self._columns = {}

    def column(self, name):
        """The column called ``name`` as a list (decoded once, then cached)."""
        if name not in self._columns:
            i = self.schema.index_of(name)
            if i is None:
                self.schema.require(name)
            self._columns[name] = _decode(self._inner.arrays[self._inner.columns[i]])
        return self._columns[name]

    def rows(self):
        return (Row(self, i) for i in range(self.num_rows))

    def output(self):
        """Every row kept, every column passed through."""
        from .output import Output

        return Output(self)

    def filter(self, keep):
        return self.output().filter(keep)

    def map(self, name, f):
        return self.output().map(name, f)

    def flat_map(self, name, f):
        return self.output().flat_map(name, f)


class Row:
    """One row: ``row["age"]`` is that column's value (None for null)."""

    __slots__ = ("_batch", "index")

    def __init__(self, batch, index):
        self._batch, self.index = batch, index

    def __getitem__(self, name):
        return self._batch.column(name)[self.index]
