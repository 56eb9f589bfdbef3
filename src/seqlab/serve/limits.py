"""What one request to ``seqlab serve`` may ask, and how many may run at once."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    """The server's limits; each is a ``seqlab serve --max-...`` option too."""

    max_input_chars: int = 2000  # input of /v1/predict, prompt of /v1/generate
    max_new_tokens: int = 1000
    max_beam: int = 10
    max_body_bytes: int = 64 * 1024  # larger bodies: 413 before they are read
    max_in_flight: int = 32  # requests being computed; more at once get 429
    max_batch: int = 32  # predictions (or generations) of one model computed together
    # ms a forming batch of predictions waits for the next request, while fewer wait
    # than the last batch held (clients answered together come back together); 0: never
    batch_linger_ms: float = 2.0
    workers: int = 2  # prediction threads (+ one per LM generating; torch's own on top)
    timeout_s: float = 30.0  # per request; a stream ends with an error event

    def __post_init__(self) -> None:
        """Each limit positive (the linger may be 0); ValueError naming its flag."""
        for field in fields(self):
            value, flag = getattr(self, field.name), "--" + field.name.replace("_", "-")
            if field.name == "batch_linger_ms":
                if not value >= 0:  # NaN too
                    raise ValueError(f"{flag} must be >= 0, got {value}")
            elif not value > 0:
                raise ValueError(f"{flag} must be > 0, got {value}")
