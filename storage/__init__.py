"""Where everything is kept: the schema, the store (DuckDB or PostgreSQL), the write-behind writer and its jobs.

Imports only ``errors``, ``inference.types`` (the records a turn produces) and SQLAlchemy; never gradio.
"""
