"""Fuzz the readers of COCO files and weights cards: whatever the file holds, the reader
returns its object or raises our error naming the file, never a KeyError / TypeError /
IndexError / OverflowError traceback.

Files are random JSON values, valid files with one value replaced or removed somewhere
(wrong types, NaN, infinities, huge numbers, unicode), truncated files and random bytes.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_radiogal.errors import CocoFormatError, WeightsError
from napari_radiogal.io.coco import read_coco
from napari_radiogal.models.weights import bundled_weights_dir, read_card

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

_NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, -1, 2**31, 10**400, 1e308, math.nan, math.inf, -math.inf, 0.5]),
    st.floats(allow_nan=True, allow_infinity=True),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=12))
#: Any JSON value (as Python's json writes it: NaN and Infinity included).
JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)


def _paths(value, prefix=()):
    """Every place in a JSON tree, as the keys / indices that lead to it."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated(draw, valid):
    """``valid`` with one value somewhere replaced by any JSON value, or removed."""
    tree = copy.deepcopy(valid)
    places = [p for p in _paths(tree) if p]
    place = draw(st.sampled_from(places))
    parent = tree
    for step in place[:-1]:
        parent = parent[step]
    if draw(st.booleans()):
        parent[place[-1]] = draw(JSON)
    else:
        del parent[place[-1]]
    return tree


#: Numbers that break naive conversions: beyond any float, not finite, of the wrong kind.
NASTY = st.sampled_from(
    [10**400, -(10**400), 2**64, 1e308, math.nan, math.inf, -math.inf, -1, 0, True, "1e400"]
)


@st.composite
def nasty_numbers(draw, valid):
    """``valid`` with some of its numbers replaced by :data:`NASTY` ones."""
    tree = copy.deepcopy(valid)
    for place in _paths(tree):
        parent = tree
        for step in place[:-1]:
            parent = parent[step]
        value = parent[place[-1]] if place else None
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if is_number and draw(st.booleans()):
            parent[place[-1]] = draw(NASTY)
    return tree


def _text(draw, valid) -> str:
    """The file's text: random JSON, a valid file with a value replaced or removed, or with
    nasty numbers, or truncated."""
    kind = draw(st.sampled_from(["any", "mutated", "mutated", "nasty", "nasty", "truncated"]))
    if kind == "any":
        return json.dumps(draw(JSON))
    if kind == "mutated":
        return json.dumps(draw(mutated(valid)))
    if kind == "nasty":
        return json.dumps(draw(nasty_numbers(valid)))
    text = json.dumps(valid)
    return text[: draw(st.integers(0, len(text) - 1))]


def _write(tmp_path_factory, name: str, content: str | bytes) -> Path:
    path = tmp_path_factory.mktemp("fuzz", numbered=True) / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- COCO files ------------------------------------------------------------------------------

VALID_COCO = {
    "info": {"description": "fuzz"},
    "images": [
        {"id": 1, "file_name": "a.fits", "height": 8, "width": 8, "radio_file": "a.fits",
         "beam": [0.004, 0.003, 0.0], "noise_sigma": 3e-5},
        {"id": 2, "file_name": "b.fits", "height": 6, "width": 5},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "score": 0.9,
         "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]], "keypoints": [3.0, 3.0, 2],
         "num_keypoints": 1, "host_ra": 10.0, "host_dec": -5.0, "reviewed": True},
        {"id": 2, "image_id": 2, "category_id": 2, "segmentation": {"size": [6, 5],
         "counts": [3, 4, 23]}},
        {"id": 3, "image_id": 1, "category_id": 2,
         "segmentation": {"size": [8, 8], "counts": "Z12606"}},
    ],
    "categories": [{"id": 1, "name": "FR-II", "keypoints": ["host"]}, {"id": 2, "name": "C"}],
}  # fmt: skip


def test_the_valid_coco_file_is_valid(tmp_path):
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(VALID_COCO))
    dataset = read_coco(path)
    assert [len(dataset.instances_of(i)) for i in (1, 2)] == [2, 1]


def _read_coco_or_our_error(path: Path) -> None:
    try:
        dataset = read_coco(path)
    except CocoFormatError as exc:
        assert str(path) in str(exc), exc
        assert exc.path == str(path)
    else:
        assert all(im.height > 0 and im.width > 0 for im in dataset.images)


@FUZZ
@given(data=st.data())
def test_fuzz_coco_json(tmp_path_factory, data):
    text = _text(data.draw, VALID_COCO)
    _read_coco_or_our_error(_write(tmp_path_factory, "coco.json", text))


@FUZZ
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_fuzz_coco_bytes_and_unicode(tmp_path_factory, content):
    _read_coco_or_our_error(_write(tmp_path_factory, "coco.json", content))


# --- weights cards ---------------------------------------------------------------------------

#: The bundled model's card, and the same card as written before cards had a geometry.
CARD = json.loads((bundled_weights_dir() / "default.json").read_text())
OLD_CARD = {k: v for k, v in CARD.items() if k != "geometry"}


def test_both_cards_are_valid(tmp_path):
    for card in (CARD, OLD_CARD):
        path = tmp_path / "m.json"
        path.write_text(json.dumps(card))
        assert read_card(path).name == CARD["name"]
    assert read_card(path).geometry is None


def _read_card_or_our_error(path: Path) -> None:
    try:
        card = read_card(path)
    except WeightsError as exc:
        assert str(path) in str(exc), exc
    else:
        assert card.architecture.in_channels == card.preprocess.num_channels


@FUZZ
@given(data=st.data(), old=st.booleans())
def test_fuzz_weights_card(tmp_path_factory, data, old):
    text = _text(data.draw, OLD_CARD if old else CARD)
    _read_card_or_our_error(_write(tmp_path_factory, "m.json", text))


@FUZZ
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_fuzz_weights_card_bytes_and_unicode(tmp_path_factory, content):
    _read_card_or_our_error(_write(tmp_path_factory, "m.json", content))
