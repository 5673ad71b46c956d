"""Who may do what: identities, signed sessions, login, API tokens, rate limits, and the ASGI gate in front of
every route. Never imports gradio.
"""
