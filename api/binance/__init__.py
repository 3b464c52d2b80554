"""A Binance-compatible spot API beside /api/v1: what existing trading libraries and bots speak.

See docs/binance-api.md for what is supported and how symbols, keys and errors map.
"""
