"""The model side of ChatLens: the generator protocol, the TGI adapter, timing and the chat service.

Nothing here imports gradio or the storage layer.
"""
