"""Incremental stop-sequence matching over streamed text.

An Aho-Corasick automaton over the stop sequences: each streamed character is one
transition (amortised O(1), whatever the number and length of the stops), and the
automaton's state is the longest streamed suffix that could still become a stop, which is
exactly the text to hold back.
"""

from __future__ import annotations

from collections import deque

MAX_STOP_SEQUENCES = 64
"""How many ``stop_sequences`` one request may give."""
MAX_STOP_SEQUENCE_CHARS = 1000
"""The longest stop sequence, in characters."""


class _Automaton:
    def __init__(self, stops: list[str]) -> None:
        self.goto: list[dict[str, int]] = [{}]
        self.depth = [0]
        self.found: list[str | None] = [None]
        """The longest stop that ends at this state, if any."""
        for stop in stops:
            state = 0
            for char in stop:
                nxt = self.goto[state].get(char)
                if nxt is None:
                    nxt = len(self.goto)
                    self.goto[state][char] = nxt
                    self.goto.append({})
                    self.depth.append(self.depth[state] + 1)
                    self.found.append(None)
                state = nxt
            self.found[state] = stop  # a state's own string is the longest one ending there
        self.fail = [0] * len(self.goto)
        queue = deque(self.goto[0].values())
        while queue:
            state = queue.popleft()
            for char, nxt in self.goto[state].items():
                queue.append(nxt)
                back = self.fail[state]
                while back and char not in self.goto[back]:
                    back = self.fail[back]
                target = self.goto[back].get(char, 0)
                self.fail[nxt] = target if target != nxt else 0
                if self.found[nxt] is None:
                    self.found[nxt] = self.found[self.fail[nxt]]

    def step(self, state: int, char: str) -> int:
        while state and char not in self.goto[state]:
            state = self.fail[state]
        return self.goto[state].get(char, 0)


class StopMatcher:
    """Feed text as it streams; text that might be the start of a stop sequence is
    held back until it is known not to be one, so matched text never reaches the client.

    The stop that is *completed* first wins (the longest one on a tie): that is what a
    token-by-token stream sees, so every chunking of the same text gives the same result."""

    def __init__(self, stop_sequences: list[str] | None) -> None:
        stops = [s for s in (stop_sequences or []) if s]
        self._automaton = _Automaton(stops) if stops else None
        self._state = 0
        self._held = ""
        self.matched: str | None = None

    def feed(self, text: str) -> str:
        """Return the text that is safe to emit; sets :attr:`matched` on a match."""
        automaton = self._automaton
        if automaton is None:
            return text
        buf = self._held + text
        state = self._state
        for i in range(len(self._held), len(buf)):
            state = automaton.step(state, buf[i])
            stop = automaton.found[state]
            if stop is not None:
                self.matched = stop
                self._held, self._state = "", 0
                return buf[: i + 1 - len(stop)]
        self._state = state
        keep = automaton.depth[state]
        self._held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        held, self._held, self._state = self._held, "", 0
        return held
