"""The KV cache's layout and its budget: which cells the llama context holds, and how many.

Two layouts (llama.cpp's ``kv_unified``):

* **Per-sequence streams** (``unified=False``): every sequence has cells of its own. Greedy
  output is bit-identical to a solo run whatever else is batched with it, but every stream
  has the size of the longest one.
* **Unified** (``unified=True``): one pool of cells shared by all sequences, as
  ``llama-server -kvu``. Memory follows the total of the sequences' lengths, and running
  sequences share a common prefix's cells; the numerics of a step depend on the batch
  (measured on SmolLM2-135M: 10 of 16 concurrent greedy streams matched their solo runs
  over 12 tokens).

Either way the budget is a number of cells (tokens) for the whole engine, and cells come on
demand: the context starts small and is recreated with twice the cells when a step finds
no room, up to the budget (the scheduler moves every sequence's cells over; see
``Scheduler._grow``). llama.cpp clears its KV buffer when it creates it, so a context's
cells are resident from the start: on-demand sizing is what keeps an idle server small.
"""

from __future__ import annotations

from dataclasses import dataclass

SPLIT_KV_BUDGET = 4 << 30
"""Largest KV budget (bytes) for which per-sequence streams are chosen automatically
(``n_seq_max`` full windows); above it, or with a smaller token budget, the cache is unified."""

INITIAL_CELLS = 4096
"""Cells of a new context (fewer when the budget is smaller): 94 MB for SmolLM2-135M."""

MIN_STREAM_CELLS = 256
"""llama.cpp pads a context to multiples of 256 cells, per stream."""


@dataclass(frozen=True, slots=True)
class KvLayout:
    unified: bool
    n_seq_max: int
    window: int
    """The most tokens (prompt and output) one sequence may hold."""
    max_cells: int
    """The budget: cells of the largest context the engine will create."""
    initial_cells: int

    def grown(self, cells: int) -> int:
        """The next context size after ``cells`` (``cells`` itself at the budget)."""
        return max(cells, min(self.max_cells, cells * 2))


def plan_layout(
    *, window: int, n_seq_max: int, budget_tokens: int | None, unified: bool | None, bytes_per_token: int
) -> KvLayout:
    """Pick the layout for a model.

    ``window`` is the model's per-request context; ``budget_tokens`` the total cells
    (None: ``n_seq_max`` windows when they fit :data:`SPLIT_KV_BUDGET`, else one window);
    ``unified`` forces a layout (None: streams exactly when every sequence can have a full
    window within the budget). With streams, the window is cut to the budget's share per
    sequence; unified, to the budget.
    """
    split_cells = n_seq_max * window
    if budget_tokens is None:
        if unified is None:
            unified = split_cells * bytes_per_token > SPLIT_KV_BUDGET
        budget = window if unified else split_cells
    else:
        budget = max(1, budget_tokens)
        if unified is None:
            unified = budget < split_cells
    if unified:
        window = min(window, budget)
        return KvLayout(True, n_seq_max, window, budget, min(budget, INITIAL_CELLS))
    per_stream = max(1, min(window, budget // n_seq_max))
    initial = n_seq_max * min(per_stream, max(MIN_STREAM_CELLS, INITIAL_CELLS // n_seq_max))
    return KvLayout(False, n_seq_max, per_stream, n_seq_max * per_stream, initial)
