"""Label-image edits on plain numpy arrays (no viewer)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_radiogal.editing import (
    add_instance,
    cut_mask,
    delete_instances,
    merge_instances,
    most_confident,
    next_free_label,
    rasterise_polygon,
    rasterise_polyline,
    relabel,
    split_instance,
)
from napari_radiogal.errors import EditError, RadiogalError


def _field() -> np.ndarray:
    """16 x 16: instance 1 = two lobes (4x4 left, 4x6 right), 2 = a bar, 3 = a dot."""
    labels = np.zeros((16, 16), np.int32)
    labels[2:6, 1:5] = 1
    labels[2:6, 9:15] = 1
    labels[10:12, 2:12] = 2
    labels[14, 14] = 3
    return labels


def test_edit_error_is_a_value_error_and_still_importable_from_the_session_module():
    from napari_radiogal._napari._edits import EditError as FromEdits

    assert FromEdits is EditError
    assert issubclass(EditError, ValueError) and issubclass(EditError, RadiogalError)


def test_relabel_returns_a_copy():
    labels = _field()
    before = labels.copy()
    out = relabel(labels, {1: 5, 3: 0})
    np.testing.assert_array_equal(labels, before)
    assert out.dtype == labels.dtype
    assert set(np.unique(out)) == {0, 2, 5}
    assert (out == 5).sum() == (before == 1).sum()


def test_merge_gives_every_pixel_the_kept_label():
    labels = _field()
    out = merge_instances(labels, [2, 3, 2], keep=3)
    assert set(np.unique(out)) == {0, 1, 3}
    np.testing.assert_array_equal(out == 3, (labels == 2) | (labels == 3))
    with pytest.raises(EditError, match="at least two"):
        merge_instances(labels, [2, 2], keep=2)
    with pytest.raises(EditError, match="keeps one of"):
        merge_instances(labels, [2, 3], keep=1)


def test_delete_makes_background():
    out = delete_instances(_field(), [1, 3])
    assert set(np.unique(out)) == {0, 2}


def test_most_confident_prefers_hand_made_then_highest_score():
    assert most_confident({4: 0.2, 5: 0.7, 6: 0.5}) == 5
    assert most_confident({4: 0.9, 5: None}) == 5
    assert most_confident({4: 0.9, 5: float("nan"), 6: "n/a"}) == 5  # first of the ties


def test_split_by_connected_parts_larger_part_keeps_the_id():
    labels = _field()
    out, ids = split_instance(labels, 1)
    assert ids == [1, 4]  # the new part gets the next free label
    assert (out[2:6, 9:15] == 1).all()  # the larger (right) lobe keeps 1
    assert (out[2:6, 1:5] == 4).all()
    np.testing.assert_array_equal(out[labels != 1], labels[labels != 1])


def test_split_the_part_under_the_host_keeps_the_id_and_new_ids_count_up():
    out, ids = split_instance(_field(), 1, host=(3.2, 2.4), new_id=10)
    assert ids == [1, 10]
    assert (out[2:6, 1:5] == 1).all() and (out[2:6, 9:15] == 10).all()
    # a host off the instance does not decide
    out, _ = split_instance(_field(), 1, host=(8.0, 8.0))
    assert (out[2:6, 9:15] == 1).all()


def test_split_along_a_cut_line_gives_the_cut_pixels_back():
    labels = _field()
    out, ids = split_instance(labels, 2, line=np.array([(9.0, 5.0), (12.0, 5.0)]))
    assert ids == [2, 4]
    # every pixel of the bar still belongs to one of the two parts
    np.testing.assert_array_equal((out == 2) | (out == 4), labels == 2)
    assert (out == 2).sum() > (out == 4).sum()
    assert (out[10:12, 2:5] == 4).all() and (out[10:12, 7:12] == 2).all()


def test_split_of_one_piece_says_how_to_fix_it():
    with pytest.raises(EditError, match="one piece by connected parts.*cut line"):
        split_instance(_field(), 2)
    with pytest.raises(EditError, match="one piece along that line"):
        split_instance(_field(), 2, line=np.array([(0.0, 0.0), (0.0, 15.0)]))


def test_cut_mask_separates_8_connected_parts():
    from skimage.measure import label

    mask = np.ones((6, 6), bool)
    cut = cut_mask(mask, np.array([(0.0, 0.0), (5.0, 5.0)]))  # a diagonal
    assert label(cut, connectivity=2).max() == 2
    assert mask.all()  # input untouched


def test_rasterise_polyline_clips_to_the_image():
    line = rasterise_polyline(np.array([(-2.0, 1.0), (3.0, 1.0), (3.0, 9.0)]), (5, 5))
    assert line.shape == (5, 5) and line.dtype == bool
    assert line[:4, 1].all() and line[3, 1:].all() and line[4, 1:].all()
    assert not line[:3, 3].any()


def test_rasterise_polygon_and_add_instance():
    labels = _field()
    square = rasterise_polygon(np.array([(1, 0), (1, 3), (4, 3), (4, 0)]), labels.shape)
    assert square.sum() == 16
    out = add_instance(labels, square, 7)
    # the pixels of instance 1 stay theirs
    np.testing.assert_array_equal(out == 7, square & (labels == 0))
    taken = add_instance(labels, square, 7, overwrite=True)
    np.testing.assert_array_equal(taken == 7, square)
    with pytest.raises(EditError, match="no pixels"):
        add_instance(labels, labels == 1, 7)
    with pytest.raises(EditError, match=r"the mask is \(3, 3\)"):
        add_instance(labels, np.ones((3, 3), bool), 7)


def test_next_free_label_counts_remembered_labels():
    assert next_free_label(np.zeros((2, 2), int)) == 1
    assert next_free_label(_field()) == 4
    assert next_free_label(_field(), used=[9, 2]) == 10
