"""HTTP routes that are not the Gradio page: ``/healthz``, ``/metrics`` and the read-only ``/share/<token>`` page."""
