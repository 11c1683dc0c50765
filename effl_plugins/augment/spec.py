"""Augmentation SPEC strings: what ``--aug`` and ``--image-aug`` take.

A SPEC is one or more terms joined by ``+``, applied in order:

- a registered augmentation, bare or called with Python-literal keyword arguments:
  ``"brightness(max_delta=0.2)+rotate(degrees=15)+flip"``;
- timm's RandAugment string (``rand_augment_transform`` in timm/data/auto_augment.py), read with
  timm's meaning of each dash-separated field and mapped onto our ``rand_augment``:

  ======== ======================================= ===========================================
  field    timm                                    here
  ======== ======================================= ===========================================
  ``m``    magnitude on 0..10 (default 10)         ``magnitude = 3 * m`` (our 0..30 scale)
  ``n``    ops per image (default 2)               ``num_ops = n``
  ``mstd`` magnitude noise std; > 100 is uniform   ``magnitude_std = 3 * mstd``, ``inf`` above 100
  ``mmax`` clip noisy magnitudes at mmax           only the default ``mmax10`` (our clip is 0..30)
  ``inc``  ops whose severity grows with m         only ``inc1``: our ops (torchvision's space)
                                                   always grow in severity with the magnitude
  ``p``    probability of each op (default 0.5)    only ``p1``: every drawn op is applied
  ``t``    named op-set / weights                  no equivalent
  ======== ======================================= ===========================================

  Fields that are left out take our component's defaults; a field written with a value that
  ``rand_augment`` cannot honour raises ``ValueError`` rather than meaning something else.
- ``trivial``: TrivialAugment (wide), our ``trivial_augment``.
- timm's AutoAugment string (``auto_augment_transform``): a policy ``original``, ``originalr``, ``v0``,
  ``v0r`` or ``3a``, optionally ``-mstd<std>`` (level noise on timm's 0..10 scale): our ``auto_augment``.

- timm's AugMix string (``augment_and_mix_transform``): ``augmix`` with optional fields ``m`` (severity, 0..10,
  default 3), ``w`` (width, default 3), ``d`` (depth, default -1: 1..3 drawn), ``a`` (alpha, default 1), ``mstd``
  (level noise; timm's AugMix default is ``inf``: levels ``U(0, m)``), ``b`` (timm's blend order): our ``augmix``.

A SPEC is parsed once (:class:`Spec`, what ``--aug`` holds) and looked up in the registry once
(:class:`ResolvedSpec`, what ``TrainConfig.aug`` holds); both are the SPEC's text as a ``str``.

Example:
    >>> parse_spec("rand-m9-n2-mstd0.5+flip(p=0.5)")
    [SpecTerm(name='rand_augment', kwargs={'num_ops': 2, 'magnitude': 27.0, 'magnitude_std': 1.5}, position=0), \
SpecTerm(name='flip', kwargs={'p': 0.5}, position=19)]
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "SpecTerm",
    "Spec",
    "ResolvedSpec",
    "parse_spec",
    "resolve_spec",
    "join_specs",
    "term_spec",
    "parse_timm_rand_augment",
    "parse_timm_auto_augment",
    "parse_timm_augmix",
    "color_jitter_spec",
    "build_augmentation",
]

#: timm's magnitude scale (``_LEVEL_DENOM``) and ours (torchvision's 31 bins).
TIMM_MAX_MAGNITUDE = 10.0
OUR_MAX_MAGNITUDE = 30.0
_SCALE = OUR_MAX_MAGNITUDE / TIMM_MAX_MAGNITUDE
_TIMM_AUGMIX = re.compile(r"augmix(-.*)?")
_TIMM_AUTO_AUGMENT = re.compile(r"(original|originalr|v0|v0r|3a)(-.*)?")
_FIELD = re.compile(r"([a-z]+)(.*)")


@dataclass(frozen=True)
class SpecTerm:
    """One term of a SPEC: a registered augmentation ``name``, its keyword arguments, and where it
    starts in the SPEC (0-based character offset)."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    position: int = 0


def _split_terms(spec: str) -> list[tuple[int, str]]:
    """``(offset, text)`` of each top-level ``+``-separated term (not splitting inside brackets or quotes)."""
    terms, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(spec):
        if quote:
            quote = None if char == quote and spec[i - 1] != "\\" else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "+" and depth == 0:
            terms.append((start, spec[start:i]))
            start = i + 1
    terms.append((start, spec[start:]))
    return terms


def _timm_number(spec: str, key: str, text: str, kind: type, family: str = "RandAugment") -> float:
    """``text`` read as ``kind``; RandAugment's (and AutoAugment's) fields must be finite and >= 0."""
    try:
        value = kind(text)
    except ValueError:
        wanted = "an integer" if kind is int else "a number"
        raise ValueError(f"SPEC {spec!r}: {family} field {key!r} needs {wanted}, got {text!r}") from None
    if family == "RandAugment" and (not math.isfinite(value) or value < 0):
        raise ValueError(f"SPEC {spec!r}: RandAugment field {key!r} must be a finite number >= 0, got {text!r}")
    return value


def parse_timm_rand_augment(text: str, spec: str | None = None) -> dict[str, Any]:
    """timm's ``rand-...`` string -> ``rand_augment`` keyword arguments (see the table above).

    >>> parse_timm_rand_augment("rand-m9-mstd0.5-inc1")
    {'magnitude': 27.0, 'magnitude_std': 1.5}
    """
    spec = text if spec is None else spec
    sections = text.split("-")
    if sections[0] != "rand":
        raise ValueError(f"SPEC {spec!r}: a timm RandAugment string starts with 'rand', got {text!r}")
    kwargs: dict[str, Any] = {}
    for section in sections[1:]:
        match = _FIELD.fullmatch(section)
        key, value = (match.group(1), match.group(2)) if match else (section, "")
        if key == "t" or (key.startswith("t") and not value):
            raise ValueError(
                f"SPEC {spec!r}: timm's op-set field {section!r} has no equivalent here "
                "(rand_augment takes ops=[...] from its own 14)"
            )
        if key == "m":
            magnitude = _timm_number(spec, key, value, float)
            if magnitude > TIMM_MAX_MAGNITUDE:
                raise ValueError(f"SPEC {spec!r}: magnitude m must lie in [0, 10] (timm's scale), got {value!r}")
            kwargs["magnitude"] = magnitude * _SCALE
        elif key == "n":
            kwargs["num_ops"] = int(_timm_number(spec, key, value, int))
        elif key == "mstd":
            std = _timm_number(spec, key, value, float)
            kwargs["magnitude_std"] = math.inf if std > 100 else std * _SCALE
        elif key == "mmax":
            if _timm_number(spec, key, value, float) != TIMM_MAX_MAGNITUDE:
                raise ValueError(
                    f"SPEC {spec!r}: 'mmax' other than 10 has no equivalent here (magnitudes are clipped "
                    "to timm's 0..10, our 0..30)"
                )
        elif key == "inc":
            if _timm_number(spec, key, value, int) != 1:
                raise ValueError(
                    f"SPEC {spec!r}: 'inc0' has no equivalent here: our ops always grow in severity with "
                    "the magnitude (timm's inc1)"
                )
        elif key == "p":
            if _timm_number(spec, key, value, float) != 1:
                raise ValueError(
                    f"SPEC {spec!r}: 'p{value}' has no equivalent here: rand_augment applies every op "
                    "it draws (write p1 or leave p out)"
                )
        else:
            raise ValueError(
                f"SPEC {spec!r}: unknown RandAugment field {section!r}; timm's fields are m, n, mstd, mmax, inc, p, t"
            )
    kwargs.setdefault("magnitude", OUR_MAX_MAGNITUDE)  # timm's default m10
    return {key: kwargs[key] for key in ("num_ops", "magnitude", "magnitude_std") if key in kwargs}


def parse_timm_auto_augment(text: str, spec: str | None = None) -> dict[str, Any]:
    """timm's AutoAugment string -> ``auto_augment`` keyword arguments: the policy, and ``mstd`` as
    ``magnitude_std`` (timm's level scale, which ``auto_augment`` keeps).

    >>> parse_timm_auto_augment("original-mstd0.5")
    {'policy': 'original', 'magnitude_std': 0.5}
    """
    spec = text if spec is None else spec
    policy, *sections = text.split("-")
    kwargs: dict[str, Any] = {"policy": policy}
    for section in sections:
        match = _FIELD.fullmatch(section)
        if not match or match.group(1) != "mstd":
            raise ValueError(f"SPEC {spec!r}: unknown AutoAugment field {section!r}; timm's only field is mstd")
        kwargs["magnitude_std"] = float(_timm_number(spec, "mstd", match.group(2), float))
    return kwargs


#: timm's AugMix fields -> (our argument, how timm reads the value)
_AUGMIX_FIELDS: dict[str, tuple[str, type]] = {
    "m": ("magnitude", int),
    "w": ("width", int),
    "d": ("depth", int),
    "a": ("alpha", float),
    "mstd": ("magnitude_std", float),
    "b": ("blended", int),
}


def parse_timm_augmix(text: str, spec: str | None = None) -> dict[str, Any]:
    """timm's ``augmix-...`` string -> ``augmix`` keyword arguments, each field with timm's meaning and type.

    >>> parse_timm_augmix("augmix-m5-w3-d2")
    {'magnitude': 5, 'width': 3, 'depth': 2}
    """
    spec = text if spec is None else spec
    kwargs: dict[str, Any] = {}
    for section in text.split("-")[1:]:
        match = _FIELD.fullmatch(section)
        if not match or match.group(1) not in _AUGMIX_FIELDS:
            raise ValueError(
                f"SPEC {spec!r}: unknown AugMix field {section!r}; timm's fields are {', '.join(_AUGMIX_FIELDS)}"
            )
        name, kind = _AUGMIX_FIELDS[match.group(1)]
        value = _timm_number(spec, match.group(1), match.group(2), kind, "AugMix")
        kwargs[name] = bool(value) if name == "blended" else value
    return kwargs


def _call_term(spec: str, offset: int, text: str) -> SpecTerm:
    """``name`` or ``name(key=literal, ...)`` -> SpecTerm, with ``ast`` (literals only)."""
    stripped = text.strip()
    where = offset + len(text) - len(text.lstrip())
    if not stripped:
        if offset == 0 and len(text) == len(spec):
            raise ValueError(f"SPEC {spec!r} is blank; give NAME, NAME(key=value, ...) or a timm rand-... string")
        plus = offset - 1 if offset > 0 else len(text)
        raise ValueError(f"SPEC {spec!r}: the '+' at position {plus} has nothing on one side")
    try:
        node = ast.parse(stripped, mode="eval").body
    except SyntaxError as exc:
        column = where + max((exc.offset or 1) - 1, 0)
        raise ValueError(
            f"SPEC {spec!r}: invalid syntax at position {column}: expected NAME or NAME(key=value, ...)"
        ) from None
    if isinstance(node, ast.Name):
        return SpecTerm(node.id, {}, where)
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(
            f"SPEC {spec!r}: term at position {where} must be NAME or NAME(key=value, ...), got {stripped!r}"
        )
    if node.args:
        raise ValueError(
            f"SPEC {spec!r}: positional argument at position {where + node.args[0].col_offset}; write key=value"
        )
    kwargs = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ValueError(f"SPEC {spec!r}: '**' at position {where + keyword.value.col_offset - 2} is not allowed")
        try:
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, SyntaxError, TypeError):
            raise ValueError(
                f"SPEC {spec!r}: argument {keyword.arg!r} at position {where + keyword.value.col_offset} "
                "must be a Python literal (number, string, tuple, list, True/False/None)"
            ) from None
    return SpecTerm(node.func.id, kwargs, where)


def parse_spec(spec: str) -> list[SpecTerm]:
    """The terms of ``spec``, in order (syntax only: names are looked up when the SPEC is built).

    Raises ``TypeError`` for a non-string and ``ValueError`` naming the SPEC and the position of
    anything that is not a timm string, NAME or NAME(key=literal, ...).
    """
    if not isinstance(spec, str):
        raise TypeError(
            f"spec must be a str such as 'rand-m9-n2-mstd0.5' or 'brightness(max_delta=0.2)+flip', "
            f"got {type(spec).__name__}"
        )
    terms = []
    for offset, text in _split_terms(spec):
        stripped = text.strip()
        where = offset + len(text) - len(text.lstrip())
        if stripped == "rand" or stripped.startswith("rand-"):
            terms.append(SpecTerm("rand_augment", parse_timm_rand_augment(stripped, spec), where))
        elif stripped == "trivial":
            terms.append(SpecTerm("trivial_augment", {}, where))
        elif _TIMM_AUTO_AUGMENT.fullmatch(stripped):
            terms.append(SpecTerm("auto_augment", parse_timm_auto_augment(stripped, spec), where))
        elif _TIMM_AUGMIX.fullmatch(stripped):
            terms.append(SpecTerm("augmix", parse_timm_augmix(stripped, spec), where))
        else:
            terms.append(_call_term(spec, offset, text))
    return terms


class Spec(str):
    """A SPEC string parsed once: the text itself (a ``str`` equal to it) with its terms (:func:`parse_spec`).

    A Spec given where a SPEC is taken is not parsed again. Text made by a method of ``str`` (``spec + "x"``)
    is plain text again: join Specs with :func:`join_specs`.

    >>> spec = Spec.parse("flip+rotate(degrees=15)")
    >>> spec == "flip+rotate(degrees=15)", [term.name for term in spec.terms]
    (True, ['flip', 'rotate'])
    """

    terms: tuple[SpecTerm, ...]

    def __new__(cls, text: str, terms: Sequence[SpecTerm] = ()) -> Spec:
        spec = super().__new__(cls, text)
        spec.terms = tuple(terms)
        return spec

    @classmethod
    def parse(cls, text: str) -> Spec:
        """``text`` with its terms: parsed here unless it is a Spec already (returned as it is)."""
        if isinstance(text, Spec):
            return text
        return cls(text, parse_spec(text))

    def __copy__(self) -> Spec:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Spec:
        return self  # immutable: its terms are read, never changed


class ResolvedSpec(Spec):
    """A :class:`Spec` whose terms were looked up in the augmentation registry for ``backend``, once
    (:func:`resolve_spec`): ``factories`` one per term, ``compose`` (for more than one term) the registry's
    ``compose``. :meth:`build` makes the augmentation from them."""

    backend: str
    factories: tuple[Callable[..., Any], ...]
    compose: Callable[..., Any] | None

    def __new__(
        cls,
        text: str,
        terms: Sequence[SpecTerm] = (),
        backend: str = "batch",
        factories: Sequence[Callable[..., Any]] = (),
        compose: Callable[..., Any] | None = None,
    ) -> ResolvedSpec:
        spec = super().__new__(cls, text, terms)
        spec.backend, spec.factories, spec.compose = backend, tuple(factories), compose
        return spec

    def build(self) -> Callable:
        """A new augmentation: each term's factory called with its arguments, in order; one term is the
        augmentation itself, several a ``compose`` of them."""
        ops = [factory(**term.kwargs) for factory, term in zip(self.factories, self.terms)]
        if len(ops) == 1:
            return ops[0]
        return self.compose(ops=ops)


def resolve_spec(spec: str, backend: str = "batch") -> ResolvedSpec:
    """``spec`` (parsed here unless it is a :class:`Spec`) with each term looked up in the registry for
    ``backend`` and its arguments checked against the component's signature; a ResolvedSpec for that backend
    is returned as it is.

    Unknown names raise the registry's ``UnknownComponentError`` (with close matches); unknown arguments a
    ``TypeError`` listing the component's arguments and defaults.
    """
    if isinstance(spec, ResolvedSpec) and spec.backend == backend:
        return spec
    from ..kv import checked_factory

    parsed = Spec.parse(spec)
    factories = [checked_factory("augmentations", term.name, term.kwargs, backend) for term in parsed.terms]
    compose = checked_factory("augmentations", "compose", {}, backend) if len(factories) > 1 else None
    return ResolvedSpec(str(parsed), parsed.terms, backend, factories, compose)


def join_specs(*parts: str | None) -> Spec | None:
    """The non-empty ``parts`` joined by ``+`` as one Spec (None when there are none), each part's terms kept
    with their positions in the joined text; a part that is not a Spec is parsed.

    >>> join_specs("flip", None, Spec.parse("rotate(degrees=15)")).terms[1]
    SpecTerm(name='rotate', kwargs={'degrees': 15}, position=5)
    """
    texts: list[str] = []
    terms: list[SpecTerm] = []
    offset = 0
    for part in parts:
        if not part:
            continue
        parsed = Spec.parse(part)
        texts.append(str(parsed))
        terms += [replace(term, position=term.position + offset) for term in parsed.terms]
        offset += len(parsed) + 1
    return Spec("+".join(texts), terms) if texts else None


#: the terms after which timm applies no colour jitter (its ``disable_color_jitter``): any auto-augment but 3a
_JITTER_OFF = ("rand_augment", "trivial_augment", "auto_augment", "augmix")


def color_jitter_spec(factors: Sequence[float], aug: str | None = None) -> str | None:
    """timm's ``--color-jitter`` (torchvision's ``ColorJitter(brightness, contrast, saturation)``: factors
    ``U(1 - F, 1 + F)``) as a SPEC, appended to ``aug``: ``brightness(mode='factor')``, ``contrast``, ``color``
    in that order (torchvision draws the order per image). One factor is used for all three.

    timm applies no colour jitter after an auto-augment other than ``3a``; rather than drop it, such an ``aug``
    is refused (ValueError), as are other than 1 or 3 factors (hue has no op here). The result is a
    :class:`Spec` (``aug`` is parsed unless it is one; the jitter's terms are made, not parsed).

    >>> color_jitter_spec([0.4])
    "brightness(max_delta=0.4, mode='factor')+contrast(max_delta=0.4)+color(max_delta=0.4)"
    """
    factors = [float(f) for f in factors]
    if len(factors) not in (1, 3):
        raise ValueError(
            f"--color-jitter takes 1 or 3 factors (brightness, contrast, saturation), got {factors}; hue has no op here"
        )
    brightness, contrast, saturation = factors * 3 if len(factors) == 1 else factors
    parsed = Spec.parse(aug) if aug else None
    for term in parsed.terms if parsed else ():
        if term.name in _JITTER_OFF and term.kwargs.get("policy") != "3a":
            raise ValueError(
                f"--color-jitter: timm applies no colour jitter after an auto-augment (3a aside), and --aug {aug!r} "
                "has one; add brightness(max_delta=F, mode='factor')+contrast(max_delta=F)+color(max_delta=F) to "
                "--aug instead"
            )
    parts = [
        term_spec("brightness", {"max_delta": brightness, "mode": "factor"}) if brightness else None,
        term_spec("contrast", {"max_delta": contrast}) if contrast else None,
        term_spec("color", {"max_delta": saturation}) if saturation else None,
    ]
    return join_specs(parsed, *parts)


def term_spec(name: str, kwargs: dict[str, Any], text: str | None = None) -> Spec:
    """One term as a Spec made without parsing (for SPECs the code writes): ``name`` with ``kwargs``, written
    as ``text`` (default ``name(key=repr(value), ...)``), which must parse to that term.

    >>> term_spec("contrast", {"max_delta": 0.4})
    'contrast(max_delta=0.4)'
    """
    if text is None:
        text = f"{name}({', '.join(f'{key}={value!r}' for key, value in kwargs.items())})" if kwargs else name
    return Spec(text, [SpecTerm(name, dict(kwargs), 0)])


def build_augmentation(spec: str | None, *, backend: str = "batch") -> Callable | None:
    """Build ``spec`` for ``backend`` ("batch" | "image"): ``None`` for ``None`` or ``""``, the
    augmentation itself for one term, a ``compose`` of the terms in order for several (errors: :func:`resolve_spec`).

    Example:
        >>> aug = build_augmentation("brightness(max_delta=0.2)+flip")
        >>> [type(op).__name__ for op in aug.ops]
        ['Brightness', 'Flip']
    """
    if backend not in ("batch", "image"):
        raise ValueError(f"backend must be 'batch' or 'image', got {backend!r}")
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return None
    return resolve_spec(spec, backend).build()
