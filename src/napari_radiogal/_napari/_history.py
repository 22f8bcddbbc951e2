"""A bounded undo/redo history of states, for what napari's own undo does not cover.

napari's Labels layer undoes mask edits, but the class, reviewed flag and host of an
instance live in the layers' ``features`` and in a Points layer, which have no undo. An
:class:`~._edits.AnnotationSession` therefore records its whole (small) state after every
change in an :class:`EditHistory`: the features tables and the host points, plus how many
napari Labels history items the change added. Undo restores the previous state and, for a
mask change, steps napari's Labels history back by that many items, so one list orders
class, host, reviewed and mask edits alike. GUI-free: the states are opaque to this module.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["EditHistory", "Step", "HISTORY_LIMIT"]

#: Undo steps kept per annotation; napari keeps 100 Labels history items, so every mask
#: step we hold can still be undone there.
HISTORY_LIMIT = 100


@dataclass(frozen=True)
class Step:
    """One change: the states around it and the napari Labels history items it added.

    Attributes
    ----------
    before, after
        The recorded states (whatever the owner records; compared with ``==``).
    mask_steps : int
        Items the change appended to the Labels layer's own undo history (0 when only
        classes, flags or hosts changed).
    """

    before: Any
    after: Any
    mask_steps: int = 0


class EditHistory:
    """Undo and redo over recorded states, at most ``limit`` steps back.

    Parameters
    ----------
    state
        The state to start from.
    limit : int
        Undo steps kept; the oldest are forgotten first.

    Examples
    --------
    >>> h = EditHistory("a", limit=2)
    >>> h.record("b"), h.record("b"), h.record("c", mask_steps=1)
    (True, False, True)
    >>> h.undo().before, h.current, h.can_redo
    ('b', 'b', True)
    >>> h.redo().after, h.can_redo
    ('c', False)
    """

    def __init__(self, state: Any, limit: int = HISTORY_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"the history must keep at least one step; got limit={limit}")
        self.limit = int(limit)
        self.reset(state)

    def reset(self, state: Any) -> None:
        """Forget every step; ``state`` becomes the current state."""
        self._current = state
        self._undo: deque[Step] = deque(maxlen=self.limit)
        self._redo: list[Step] = []

    @property
    def current(self) -> Any:
        """The state after the last recorded, undone or redone step."""
        return self._current

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def next_undo(self) -> Step | None:
        """The step :meth:`undo` would undo (``None`` when there is none)."""
        return self._undo[-1] if self._undo else None

    @property
    def next_redo(self) -> Step | None:
        """The step :meth:`redo` would redo (``None`` when there is none)."""
        return self._redo[-1] if self._redo else None

    def record(self, state: Any, *, mask_steps: int = 0) -> bool:
        """Record the state after a change; returns whether a step was added.

        A state equal to the current one adds no step, unless the change added Labels
        history items (``mask_steps > 0``), which must stay paired with a step. A new step
        clears the redo list, as in every editor.
        """
        if mask_steps <= 0 and state == self._current:
            return False
        self._undo.append(Step(self._current, state, int(mask_steps)))
        self._redo.clear()
        self._current = state
        return True

    def undo(self) -> Step | None:
        """Step back: returns the step undone (restore its ``before``), or ``None``."""
        if not self._undo:
            return None
        step = self._undo.pop()
        self._redo.append(step)
        self._current = step.before
        return step

    def redo(self) -> Step | None:
        """Step forward again: returns the step redone (restore its ``after``), or ``None``."""
        if not self._redo:
            return None
        step = self._redo.pop()
        self._undo.append(step)
        self._current = step.after
        return step
