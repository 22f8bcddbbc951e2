"""Class schemes: which morphological classes a data set or a model knows.

A class scheme is *data*, not code: the default follows the public RadioGalaxyNET data set
(COCO category ids ``1 FR-II, 2 FR-I, 3 FR-X, 4 R``), but a model may carry another scheme
in its weights card (e.g. FIRST ``FRI / FRII / Compact / Bent``), and COCO files carry theirs
in ``categories``. Network outputs are indexed by position in :attr:`ClassScheme.names`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from napari_radiogal.errors import CocoFormatError

__all__ = [
    "ClassScheme",
    "RADIOGALAXYNET",
    "FIRST",
    "FIRST_TO_RADIOGALAXYNET",
    "first_to_radiogalaxynet",
    "SINGLE_COMPONENT_CLASSES",
    "DISPLAY_COLORS",
]


@dataclass(frozen=True)
class ClassScheme:
    """An ordered set of classes with their COCO category ids.

    Parameters
    ----------
    names : tuple of str
        Class names in network-output order (index ``k`` of a logit vector is ``names[k]``).
    coco_ids : tuple of int
        The COCO ``category_id`` of each name, same order.
    keypoints : tuple of str
        Keypoint names carried by every category (one ``host`` here).
    display_order : tuple of str
        The order in which tables list the classes (the paper's: FR-I, FR-II, FR-X, R).
    name : str
        A short identifier of the scheme, stored in weights cards and COCO ``info``.

    Examples
    --------
    >>> RADIOGALAXYNET.index_of_id(2)
    1
    >>> RADIOGALAXYNET.name_of_id(1)
    'FR-II'
    """

    names: tuple[str, ...]
    coco_ids: tuple[int, ...]
    keypoints: tuple[str, ...] = ("host",)
    display_order: tuple[str, ...] = field(default=())
    name: str = "custom"

    def __post_init__(self) -> None:
        if len(self.names) != len(self.coco_ids):
            raise ValueError(
                f"ClassScheme got {len(self.names)} names but {len(self.coco_ids)} ids; "
                "give one COCO category id per class name."
            )
        if len(set(self.names)) != len(self.names) or len(set(self.coco_ids)) != len(self.coco_ids):
            raise ValueError(f"ClassScheme names and ids must be unique, got {self}.")
        if not self.display_order:
            object.__setattr__(self, "display_order", tuple(self.names))
        elif sorted(self.display_order) != sorted(self.names):
            raise ValueError("display_order must be a permutation of names.")

    @property
    def num_classes(self) -> int:
        """Number of classes (length of the network's logit vector)."""
        return len(self.names)

    def index_of_id(self, category_id: int) -> int:
        """Network-output index of a COCO category id (raises ``KeyError`` if unknown)."""
        try:
            return self.coco_ids.index(int(category_id))
        except ValueError:
            raise KeyError(
                f"category_id {category_id} is not one of {dict(zip(self.coco_ids, self.names, strict=False))}"
            ) from None

    def id_of_index(self, index: int) -> int:
        """COCO category id of a network-output index."""
        return self.coco_ids[int(index)]

    def name_of_id(self, category_id: int) -> str:
        """Class name of a COCO category id."""
        return self.names[self.index_of_id(category_id)]

    def id_of_name(self, name: str) -> int:
        """COCO category id of a class name (case-insensitive, ``FRII`` == ``FR-II``)."""
        key = _normalise_name(name)
        for n, i in zip(self.names, self.coco_ids, strict=False):
            if _normalise_name(n) == key:
                return i
        raise KeyError(f"class {name!r} is not one of {list(self.names)}")

    def to_coco_categories(self) -> list[dict[str, Any]]:
        """The COCO ``categories`` list (each with ``keypoints`` and an empty ``skeleton``)."""
        return [
            {
                "id": int(i),
                "name": n,
                "supercategory": "radio galaxy",
                "keypoints": list(self.keypoints),
                "skeleton": [],
            }
            for n, i in zip(self.names, self.coco_ids, strict=False)
        ]

    @classmethod
    def from_coco_categories(
        cls, categories: Iterable[Mapping[str, Any]], *, name: str | None = None
    ) -> ClassScheme:
        """Build a scheme from a COCO ``categories`` list, in the list's order.

        Returns :data:`RADIOGALAXYNET` itself when the categories are exactly its own.
        """
        cats = list(categories)
        try:
            names = tuple(str(c["name"]) for c in cats)
            ids = tuple(int(c["id"]) for c in cats)
        except (KeyError, TypeError, ValueError) as exc:
            raise CocoFormatError(
                f"every category needs an integer 'id' and a 'name'; got {cats!r}",
                field="categories",
            ) from exc
        if not cats:
            raise CocoFormatError(
                "the file has no categories; add the class list, e.g. "
                "[{'id': 1, 'name': 'FR-II'}, ...]",
                field="categories",
            )
        kps = tuple(cats[0].get("keypoints") or ("host",))
        if names == RADIOGALAXYNET.names and ids == RADIOGALAXYNET.coco_ids:
            return RADIOGALAXYNET
        return cls(names=names, coco_ids=ids, keypoints=kps, name=name or "custom")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for weights cards and COCO ``info``)."""
        return {
            "name": self.name,
            "names": list(self.names),
            "coco_ids": list(self.coco_ids),
            "keypoints": list(self.keypoints),
            "display_order": list(self.display_order),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClassScheme:
        """Inverse of :meth:`to_dict`."""
        scheme = cls(
            names=tuple(d["names"]),
            coco_ids=tuple(int(i) for i in d["coco_ids"]),
            keypoints=tuple(d.get("keypoints", ("host",))),
            display_order=tuple(d.get("display_order", ())),
            name=str(d.get("name", "custom")),
        )
        return RADIOGALAXYNET if scheme == RADIOGALAXYNET else scheme


def _normalise_name(name: str) -> str:
    return name.upper().replace("-", "").replace("_", "").replace(" ", "")


#: The RadioGalaxyNET / Gal-CAM categories (ids fixed by the public data set).
RADIOGALAXYNET = ClassScheme(
    names=("FR-II", "FR-I", "FR-X", "R"),
    coco_ids=(1, 2, 3, 4),
    display_order=("FR-I", "FR-II", "FR-X", "R"),
    name="radiogalaxynet",
)

#: The FIRST classes of the firstgalaxydata set (Griese et al. 2023): COCO id = its label + 1
#: (labels 0 FRI, 1 FRII, 2 Compact, 3 Bent).
FIRST = ClassScheme(
    names=("FRI", "FRII", "Compact", "Bent"),
    coco_ids=(1, 2, 3, 4),
    name="first",
)

#: FIRST class -> RadioGalaxyNET class, for comparing the two schemes. Only FR-I and FR-II
#: are the same morphology in both; Compact and Bent have no RadioGalaxyNET counterpart
#: (bent tails are FR-I or FR-II by their brightness profile, R is a resolved compact
#: source: neither follows from the FIRST label alone).
FIRST_TO_RADIOGALAXYNET: dict[str, str | None] = {
    "FRI": "FR-I",
    "FRII": "FR-II",
    "Compact": None,
    "Bent": None,
}


#: Class names of sources made of one radio component by definition (RadioGalaxyNET's
#: resolved ``R``, FIRST's ``Compact``). Two islands of such a class in one image are two
#: sources; two islands of FR-I / FR-II / FR-X / Bent may be the lobes of one
#: (:func:`napari_radiogal.training.pseudo_labels.bridge_components`).
SINGLE_COMPONENT_CLASSES: frozenset[str] = frozenset({"R", "Compact"})


def first_to_radiogalaxynet(name: str) -> str | None:
    """The RadioGalaxyNET class of a FIRST class name (``None`` for Compact and Bent).

    Examples
    --------
    >>> first_to_radiogalaxynet("FRII"), first_to_radiogalaxynet("Bent")
    ('FR-II', None)
    """
    return FIRST_TO_RADIOGALAXYNET[FIRST.name_of_id(FIRST.id_of_name(name))]


#: Display colours per class name (RGBA hex), shared by napari layers, region files and plots.
#: Okabe & Ito's colour-blind-safe palette (Okabe & Ito 2008, "Color Universal Design"),
#: with the hues chosen to stand out from the cyan radio contours and the grey (infrared) and
#: inferno (radio) images: FR-I reddish purple, FR-II bluish green, FR-X blue, R yellow.
DISPLAY_COLORS: dict[str, str] = {
    "FR-I": "#cc79a7ff",
    "FR-II": "#009e73ff",
    "FR-X": "#0072b2ff",
    "R": "#f0e442ff",
    "FRI": "#cc79a7ff",
    "FRII": "#009e73ff",
    "Compact": "#f0e442ff",
    "Bent": "#d55e00ff",
}
