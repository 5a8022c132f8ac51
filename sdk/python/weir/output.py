"""What a transform returns: the rows kept, the columns computed, the rows
rejected. Columns left alone are passed through by the host, never copied back."""

from decimal import Decimal
from itertools import accumulate

from wit_world.imports import types as wit

from .batch import Row


_BITS = bytes.maketrans(b"\x00\x01", b"01")


def _bits(flags):
    """Truth values as an Arrow bitmap (least significant bit first), packed
    by ``int`` in C rather than bit by bit in Python."""
    n = len(flags)
    if n == 0:
        return b""
    digits = bytes(map(bool, flags)).translate(_BITS)[::-1]
    return int(digits, 2).to_bytes((n + 7) // 8, "little")


def _encode(values, field, arrays):
    """Appends a computed column (Python list, None for null) as a contract
    array of ``field``'s type to ``arrays``, children first; returns its index."""
    n = len(values)
    validity = None if all(v is not None for v in values) else _bits([v is not None for v in values])
    t = field.type
    texts = [v if v is not None else "" for v in values] if t == "utf8" else None
    joined = "".join(texts) if t == "utf8" else ""
    raw = joined.encode("utf-8")
    if t == "utf8" and len(raw) == len(joined):
        # ASCII: one encode, and offsets from the lengths, in C.
        vals = wit.Values_Utf8(wit.VarBytes(list(accumulate(map(len, texts), initial=0)), raw))
    elif t in ("utf8", "binary"):
        offsets, data = [0], bytearray()
        for v in values:
            if v is not None:
                data += v.encode("utf-8") if t == "utf8" else v
            offsets.append(len(data))
        inner = wit.VarBytes(offsets, bytes(data))
        vals = wit.Values_Utf8(inner) if t == "utf8" else wit.Values_Binary(inner)
    elif t == "bool":
        vals = wit.Values_Boolean(_bits([bool(v) for v in values]))
    elif t == "list":
        offsets, items = [0], []
        for v in values:
            if v is not None:
                items.extend(v)
            offsets.append(len(items))
        vals = wit.Values_List(wit.ListData(offsets, _encode(items, field.item, arrays)))
    elif t == "struct":
        children = [_encode([None if v is None else v.get(m.name) for v in values], m, arrays) for m in field.members]
        vals = wit.Values_Struct(children)
    elif field.decimal() is not None:
        scale = field.decimal()[1]
        raw = bytearray()
        for v in values:
            unscaled = 0 if v is None else int(Decimal(v).scaleb(scale).to_integral_exact())
            raw += unscaled.to_bytes(16, "little", signed=True)
        vals = wit.Values_Decimal128(bytes(raw))
    else:
        fill = [0 if v is None else v for v in values]
        kinds = {"int32": wit.Values_Int32, "int64": wit.Values_Int64, "date32": wit.Values_Date32}
        if t in kinds:
            vals = kinds[t]([int(v) for v in fill])
        elif t in ("float32", "float64"):
            vals = (wit.Values_Float32 if t == "float32" else wit.Values_Float64)([float(v) for v in fill])
        elif t.startswith("timestamp["):
            vals = wit.Values_Timestamp([int(v) for v in fill])
        else:
            raise TypeError(f"column `{field.name}`: unknown type {t!r}")
    arrays.append(wit.Array(n, validity, vals))
    return len(arrays) - 1


class Output:
    """Built from a batch with ``batch.output()``, ``filter``, ``map`` or ``flat_map``."""

    def __init__(self, batch):
        self._batch = batch
        self._rows = None  # None: every row, in order; else a list of input rows
        self._in_order = True  # False once flat_map may repeat rows
        self._computed = {}
        self._rejections = []

    def selected_rows(self):
        return range(self._batch.num_rows) if self._rows is None else list(self._rows)

    @property
    def num_rows(self):
        return self._batch.num_rows if self._rows is None else len(self._rows)

    def _no_computed(self, what):
        if self._computed:
            raise RuntimeError(f"Output.{what} was called after a column was computed; change the rows first")

    def filter(self, keep):
        """Keeps the selected rows for which ``keep(row)`` is true."""
        self._no_computed("filter")
        self._rows = [i for i in self.selected_rows() if keep(Row(self._batch, i))]
        return self

    def reject(self, row, reason):
        """Sends input row ``row`` to the dead-letter with ``reason``."""
        self._no_computed("reject")
        self._rows = [i for i in self.selected_rows() if i != row]
        self._rejections.append(wit.Rejection(row, reason))

    def map(self, name, f):
        """Sets column ``name`` to ``f(row)`` of every selected row."""
        return self.set(name, [f(Row(self._batch, i)) for i in self.selected_rows()])

    def flat_map(self, name, f):
        """One output row per value ``f(row)`` yields, holding it in column ``name``."""
        self._no_computed("flat_map")
        rows, values = [], []
        for i in self.selected_rows():
            for v in f(Row(self._batch, i)):
                rows.append(i)
                values.append(v)
        self._rows = rows
        self._in_order = False
        return self.set(name, values)

    def set(self, name, values):
        """Sets column ``name`` to ``values``, one per output row."""
        self._computed[name] = list(values)
        return self

    def _to_wit(self, input, plan):
        n = self.num_rows
        for name, values in self._computed.items():
            if plan.output.field(name) is None:
                raise WeirError(f"process computed column `{name}`, which describe did not plan")
            if len(values) != n:
                raise WeirError(f"computed column `{name}` has {len(values)} values for {n} output rows")
        arrays, columns = [], []
        for field in plan.output.fields:
            if field.name in self._computed:
                source = wit.ColumnSource_Computed(_encode(self._computed[field.name], field, arrays))
            else:
                i = input.index_of(field.name)
                if i is None:
                    raise WeirError(f"planned column `{field.name}` is neither computed by process nor an input column")
                source = wit.ColumnSource_Input(i)
            columns.append(wit.OutputColumn(field.name, source))
        if self._rows is None:
            rows = wit.RowSelection_All()
        elif self._in_order:
            keep = bytearray(self._batch.num_rows)
            for i in self._rows:
                keep[i] = 1
            rows = wit.RowSelection_Mask(_bits(keep))
        else:
            rows = wit.RowSelection_Take(self._rows)
        return wit.TransformOutput(rows, columns, arrays, self._rejections)


from .transform import WeirError  # noqa: E402
