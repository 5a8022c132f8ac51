"""Nested and decimal columns through the Python SDK, both ways (tested in
tests/e2e/languages.rs against the JavaScript twin, plugins/js/nested).

``mode = "make"``: lines ``PRICE WORD...`` become a ``price`` decimal128(10,2),
a ``words`` list of text and an ``item`` struct {name, count}.
``mode = "read"``: those three columns are read back into a ``summary`` text.
"""

import weir


class Nested(weir.Transform):
    def __init__(self, config):
        self.mode = config.get("mode", "make")

    def describe(self, input):
        if self.mode == "make":
            input.require("value")
            return weir.Plan(
                input.with_field(weir.Field("price", "decimal128(10,2)"))
                .with_field(weir.Field.list("words", weir.Field("item", "utf8")))
                .with_field(weir.Field.struct("item", [weir.Field("name", "utf8"), weir.Field("count", "int32")])),
                reads=["value"],
            )
        for name in ("price", "words", "item"):
            input.require(name)
        return weir.Plan(input.with_field(weir.Field("summary", "utf8")), reads=["price", "words", "item"])

    def process(self, batch):
        if self.mode == "make":
            parts = [line.split() for line in batch.column("value")]
            return (
                batch.output()
                .set("price", [p[0] for p in parts])
                .set("words", [p[1:] or None for p in parts])
                .set("item", [{"name": p[1], "count": len(p) - 1} if len(p) > 1 else None for p in parts])
            )

        def summary(row):
            item, words = row["item"], row["words"]
            name = "-" if item is None else f"{item['name']}x{item['count']}"
            return f"{name}:{'+'.join(words or [])}@{row['price']}"

        return batch.map("summary", summary)


Transformer = weir.export(Nested)
