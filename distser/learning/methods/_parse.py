"""Method names -> :class:`Method` (a set of registered components), and the paper's Table 2 rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ._base import ALIASES, BASE, REGISTRY, Component, CorpusWeighting, Hyperparameter, MethodParams

#: The out-of-corpus rows of Table 2, in the paper's order (canonical names).
TABLE2_METHODS: tuple[str, ...] = (
    "ce",
    "unsup",
    "soft",
    "ls",
    "unigram",
    "focal",
    "cp",
    "pel-nl",
    "pel-al",
    "cww",
    "cww+unsup",
    "cww+unigram",
    "cww+pel-al",
)


@dataclass(frozen=True)
class Method:
    """A training method: registered components in canonical order (none: plain ``ce``, eq. 1).

    Example:
        >>> m = parse_method("pel+cww")
        >>> m.name, "cww" in m, m.needs_unlabeled
        ('cww+pel-al', True, True)
        >>> [h.name for h in m.hyperparameters]
        ['lambda_w', 'cww_signal', 'cww_smoothing', 'weight_floor', 'lambda_l', 'pel_batch_size']
    """

    components: tuple[type[Component], ...] = ()

    @property
    def name(self) -> str:
        return "+".join(c.name for c in self.components) or BASE

    def __str__(self) -> str:
        return self.name

    def __contains__(self, name: str) -> bool:
        return any(c.name == name for c in self.components)

    def of_kind(self, kind: type[Component]) -> list[type[Component]]:
        return [c for c in self.components if issubclass(c, kind)]

    @property
    def needs_unlabeled(self) -> bool:
        """Whether every training step also draws a minibatch from the unlabeled corpus."""
        return any(c.needs_unlabeled for c in self.components)

    @property
    def moves_weights(self) -> bool:
        """Whether the method's corpus weights change while training (``cww``, ``tcww``, ``dro``, ... and any
        new rule whose hooks update them): the methods whose weights the report tabulates and draws."""
        return any(c.moves_weights() for c in self.of_kind(CorpusWeighting))

    @property
    def hyperparameters(self) -> tuple[Hyperparameter, ...]:
        """The components' hyperparameters, each once, in component order."""
        seen: dict[str, Hyperparameter] = {}
        for component in self.components:
            for hp in component.hyperparameters:
                seen.setdefault(hp.name, hp)
        return tuple(seen.values())

    def build(self, params: MethodParams) -> list[Component]:
        """One instance of every component, with the given hyperparameter values."""
        return [component(params) for component in self.components]


def one_corpus_warning(method: str | Method, corpora: list[str]) -> str | None:
    """What to tell a user who trains a corpus-weighting method on one training corpus, else None.

    With one corpus every weighting rule gives the weight 1 (``merged`` pools one corpus): the method
    trains exactly as the same method without its weighting, ``ce`` for a plain ``cww``.

    Example:
        >>> one_corpus_warning("cww+pel", ["emodb"])
        'method cww+pel-al trains on one corpus (emodb): cww has nothing to weight, so it equals pel-al'
        >>> one_corpus_warning("cww", ["emodb", "tess"]) is None, one_corpus_warning("pel-al", ["emodb"]) is None
        (True, True)
    """
    method = parse_method(method)
    weighting = method.of_kind(CorpusWeighting)
    if len(corpora) != 1 or not weighting:
        return None
    rest = Method(tuple(c for c in method.components if c not in weighting))
    return (f"method {method.name} trains on one corpus ({corpora[0]}): {weighting[0].name} has nothing to weight, "
            f"so it equals {rest.name}")


def components_help() -> str:
    """Every component with its summary and hyperparameters (for ``--help`` and error messages)."""
    lines = [f"  {BASE:<10} class-weighted cross-entropy, eq. (1): the base of every method"]
    for component in REGISTRY.values():
        alias = f" (alias {', '.join(component.aliases)})" if component.aliases else ""
        lines.append(f"  {component.name:<10} {component.summary}{alias}")
        lines += [f"{'':13}{hp.describe()}" for hp in component.hyperparameters]
    return "\n".join(lines)


def _valid_names_message() -> str:
    aliases = ", ".join(f"{a!r} = {b!r}" for a, b in ALIASES.items())
    return (f"valid components: {', '.join([BASE, *REGISTRY])} (aliases: {aliases}), joined with '+'; "
            f"Table 2 methods: {', '.join(TABLE2_METHODS)}")


def method_order(methods: Iterable[str]) -> list[str]:
    """Method names in the order tables list them: the paper's Table 2 rows in its order, then every other
    method by its components' registry order (``merged`` first, then the weighting rules, ...); names that
    are not methods last, sorted.

    Example:
        >>> method_order(["dro", "cww+pel-al", "merged", "ce", "tcww", "?"])
        ['ce', 'cww+pel-al', 'merged', 'tcww', 'dro', '?']
    """
    def key(name: str) -> tuple:
        try:
            method = parse_method(name)
        except ValueError:
            return (2, (), name)
        if method.name in TABLE2_METHODS:
            return (0, (TABLE2_METHODS.index(method.name),), name)
        return (1, tuple(c.order for c in method.components), name)

    return sorted(dict.fromkeys(methods), key=key)


def parse_method(method: str | Method) -> Method:
    """Parse a method name such as ``"cww+pel-al"`` (case and spaces ignored).

    Raises ``ValueError`` listing the valid names for an unknown, repeated or contradictory component.

    Example:
        >>> parse_method("ce+cww") == parse_method("cww")
        True
        >>> parse_method("pel-nl+pel-al")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: contradictory method 'pel-nl+pel-al': 'pel-al' and 'pel-nl' cannot be combined; ...
    """
    if isinstance(method, Method):
        return method
    if not isinstance(method, str) or not method.strip():
        raise ValueError(f"empty method name {method!r}; {_valid_names_message()}")
    parts = [ALIASES.get(p.strip().lower(), p.strip().lower()) for p in method.split("+")]
    unknown = [p for p in parts if p not in REGISTRY and p != BASE]
    if unknown:
        raise ValueError(f"unknown method component(s) {unknown} in {method!r}; {_valid_names_message()}")
    repeated = sorted({p for p in parts if parts.count(p) > 1})
    if repeated:
        raise ValueError(f"repeated method component(s) {repeated} in {method!r}; {_valid_names_message()}")
    chosen = [REGISTRY[p] for p in parts if p != BASE]
    by_slot: dict[str, list[str]] = {}
    for component in chosen:
        if component.slot is not None:
            by_slot.setdefault(component.slot, []).append(component.name)
    for names in by_slot.values():
        if len(names) > 1:
            raise ValueError(f"contradictory method {method!r}: {' and '.join(map(repr, sorted(names)))} "
                             f"cannot be combined; {_valid_names_message()}")
    return Method(tuple(sorted(chosen, key=lambda c: (c.order, c.name))))
