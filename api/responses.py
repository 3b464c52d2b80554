"""JSON responses rendered by orjson.

Starlette renders with the standard library's encoder, pure Python for every value: about 5 % of
the API process's time under load. orjson writes the same compact UTF-8 JSON. Its one difference
that could matter, NaN becoming null, cannot arise: money and quantities are decimal strings.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette import responses


class JSONResponse(responses.JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
