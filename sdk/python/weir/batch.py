"""The input batch: columns as Python lists (None for nulls), and row views."""

from decimal import Decimal

from wit_world.imports import types as wit

from .schema import Schema


def _valid(validity, i):
    return validity is None or (validity[i >> 3] >> (i & 7)) & 1 == 1


def _decode(arrays, index, field):
    """One array's values as a Python list, None for nulls: lists as lists,
    structs as dicts keyed by member name, decimals as ``decimal.Decimal``."""
    array = arrays[index]
    n, validity, values = array.len, array.validity, array.values
    if isinstance(values, wit.Values_Utf8) and n > 0:
        offsets, data = values.value.offsets, bytes(values.value.bytes)
        text = data[offsets[0]:offsets[n]].decode("utf-8")
        if len(text) == offsets[n] - offsets[0]:
            # ASCII: character offsets are byte offsets, so one decode and
            # slices (C-level work) replace a decode per row.
            base = offsets[0]
            out = [text[a - base:b - base] for a, b in zip(offsets, offsets[1:])]
            if validity is not None:
                for i in range(n):
                    if not _valid(validity, i):
                        out[i] = None
            return out
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
    if isinstance(values, wit.Values_Decimal128):
        raw, scale = values.value, field.decimal()[1]
        return [
            Decimal(int.from_bytes(raw[i * 16:(i + 1) * 16], "little", signed=True)).scaleb(-scale) if _valid(validity, i) else None
            for i in range(n)
        ]
    if isinstance(values, wit.Values_List):
        offsets = values.value.offsets
        items = _decode(arrays, values.value.item, field.item)
        return [items[offsets[i]:offsets[i + 1]] if _valid(validity, i) else None for i in range(n)]
    if isinstance(values, wit.Values_Struct):
        members = [(m.name, _decode(arrays, child, m)) for m, child in zip(field.members, values.value)]
        return [{name: vs[i] for name, vs in members} if _valid(validity, i) else None for i in range(n)]
    vs = values.value
    return list(vs) if validity is None else [vs[i] if _valid(validity, i) else None for i in range(n)]


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
            self._columns[name] = _decode(self._inner.arrays, self._inner.columns[i], self.schema.fields[i])
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
