"""The benchmark transform in Python: keeps rows whose ``score`` is at least
``min_score`` and upper-cases their ``name``, like plugins/uppercase.
``weir bench transform --plugin target/plugins/python/uppercase.wasm`` runs it."""

import weir


class Uppercase(weir.Transform):
    def __init__(self, config):
        self.min_score = config.get("min_score", 0.5)

    def describe(self, input):
        for name, type in (("name", "utf8"), ("score", "float64")):
            if input.require(name).type != type:
                raise weir.WeirError(f"column `{name}` must be {type}")
        return weir.Plan(input, reads=["name", "score"])

    def process(self, batch):
        scores, names = batch.column("score"), batch.column("name")
        out = batch.filter(lambda row: scores[row.index] is not None and scores[row.index] >= self.min_score)
        return out.set("name", [None if names[i] is None else names[i].upper() for i in out.selected_rows()])


Transformer = weir.export(Uppercase)
