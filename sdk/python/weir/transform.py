"""The glue between the contract's exported functions and a Transform."""

from componentize_py_types import Err


class WeirError(Exception):
    """An error for the host: at load time it stops the pipeline with this
    message; from ``process`` it sends the whole batch to the dead-letter."""


class Config:
    """The ``config`` table of the transform's pipeline entry, as text."""

    def __init__(self, entries):
        self._entries = dict(entries)

    def text(self, key):
        return self._entries.get(key)

    def get(self, key, default, parse=None):
        """``key`` parsed with ``parse`` (default: the type of ``default``)."""
        text = self._entries.get(key)
        if text is None:
            return default
        parse = parse or type(default)
        try:
            return parse(text)
        except ValueError as e:
            raise WeirError(f"config key `{key}`: cannot use {text!r}: {e}")


class Transform:
    """Subclass it: ``__init__(self, config)`` (optional), ``describe(self,
    input) -> Plan`` and ``process(self, batch) -> Output``."""

    def __init__(self, config):
        self.config = config


def export(cls):
    """The class componentize-py exports: ``Transformer = weir.export(MyTransform)``."""
    from .batch import Batch
    from .schema import Schema

    class Transformer:
        transform = None
        input = None
        plan = None

        def init(self, config):
            try:
                Transformer.transform = cls(Config(config))
            except WeirError as e:
                raise Err(str(e))

        def describe(self, input):
            try:
                schema = Schema._from_wit(input)
                plan = Transformer.transform.describe(schema)
                wit_plan = plan._to_wit(schema)
            except WeirError as e:
                raise Err(str(e))
            Transformer.input, Transformer.plan = schema, plan
            return wit_plan

        def process(self, input):
            try:
                output = Transformer.transform.process(Batch(input))
                return output._to_wit(Transformer.input, Transformer.plan)
            except WeirError as e:
                raise Err(str(e))

    return Transformer
