"""Storage and analytics: the schema, the store, the write-behind recorder. Never imports gradio."""
