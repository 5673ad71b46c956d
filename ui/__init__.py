"""The Gradio front end: factories that lay out the page and wire its events. Nothing is built at import."""
