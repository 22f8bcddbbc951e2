"""The bounded undo/redo history of an annotation (no Qt needed)."""

from __future__ import annotations

import pytest

from napari_radiogal._napari._history import EditHistory, Step


def test_undo_and_redo_walk_the_recorded_states_in_order():
    h = EditHistory(0)
    for state in (1, 2, 3):
        assert h.record(state)
    assert [h.undo().before for _ in range(3)] == [2, 1, 0]
    assert h.current == 0 and not h.can_undo and h.undo() is None
    assert [h.redo().after for _ in range(3)] == [1, 2, 3]
    assert h.current == 3 and not h.can_redo and h.redo() is None


def test_an_unchanged_state_is_no_step_unless_the_masks_moved():
    h = EditHistory("a")
    assert not h.record("a")
    assert not h.can_undo
    # a paint stroke that left the pixels as they were is still one napari history item
    assert h.record("a", mask_steps=1)
    assert h.next_undo == Step("a", "a", 1)


def test_a_new_edit_after_undo_forgets_the_redo_steps():
    h = EditHistory(0)
    h.record(1)
    h.record(2)
    h.undo()
    assert h.can_redo
    h.record(5)
    assert not h.can_redo and h.current == 5
    assert h.undo().before == 1


def test_the_history_keeps_at_most_limit_steps():
    h = EditHistory(0, limit=3)
    for state in range(1, 8):
        h.record(state, mask_steps=state % 2)
    undone = []
    while h.can_undo:
        undone.append(h.undo())
    assert [s.after for s in undone] == [7, 6, 5]
    assert [s.mask_steps for s in undone] == [1, 0, 1]
    assert h.current == 4


def test_reset_starts_again_from_a_state():
    h = EditHistory(0)
    h.record(1)
    h.undo()
    h.reset(9)
    assert h.current == 9 and not h.can_undo and not h.can_redo


def test_a_history_needs_room_for_one_step():
    with pytest.raises(ValueError, match="at least one step"):
        EditHistory(0, limit=0)
