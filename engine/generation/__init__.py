"""Generating worlds: the streaming session (:class:`WorldSession`, its records and snapshots in ``state``), the
session document (``project``), its ``.swm`` files and resuming (``session_file``), refining a span (``refine``), the
offline pipeline, the flow-matching samplers and start-image preparation. No Qt: a script can do all the explorer does."""
