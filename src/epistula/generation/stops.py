"""Incremental stop-sequence matching over streamed text."""

from __future__ import annotations


class StopMatcher:
    """Feed text as it streams; text that might be the start of a stop sequence is
    held back until it is known not to be one, so matched text never reaches the client."""

    def __init__(self, stop_sequences: list[str] | None) -> None:
        self._stops = [s for s in (stop_sequences or []) if s]
        self._held = ""
        self.matched: str | None = None

    def feed(self, text: str) -> str:
        """Return the text that is safe to emit; sets :attr:`matched` on a match."""
        if not self._stops:
            return text
        buf = self._held + text
        # The stop that is *completed* first wins (the longest one on a tie): that is what a
        # token-by-token stream sees, so every chunking of the same text gives the same result.
        first: tuple[int, int, str] | None = None
        for stop in self._stops:
            pos = buf.find(stop)
            if pos != -1 and (first is None or (pos + len(stop), pos) < first[:2]):
                first = (pos + len(stop), pos, stop)
        if first is not None:
            self.matched = first[2]
            self._held = ""
            return buf[: first[1]]
        keep = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(buf)), 0, -1):
                if buf.endswith(stop[:n]):
                    keep = max(keep, n)
                    break
        self._held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held
