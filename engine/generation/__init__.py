"""Generating worlds: the streaming session (:class:`WorldSession`), the offline pipeline, the flow-matching
samplers and start-image preparation."""
