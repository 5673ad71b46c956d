"""Analytics over the stored replies: queries, the dashboard, exports, the SQL console, SLOs, Prometheus.
Never imports gradio."""
