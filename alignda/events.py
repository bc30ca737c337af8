"""What the page's functions ask gradio about the event they serve."""

from __future__ import annotations

from collections.abc import Callable


def client_left() -> Callable[[], bool]:
    """Whether the client of the event being served has gone (closed the page or the
    connection, or cancelled): gradio marks the event dead or drops it, but cannot stop a
    function running in a thread; the studio asks this before every denoiser evaluation."""
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    events = getattr(queue, "event_ids_to_events", None)
    event = events.get(event_id) if events is not None else None
    if event is None:  # not served through the queue (a direct call)
        return lambda: False
    return lambda: not event.alive or event_id not in events
