"""The read-only web UI over a store's data assets and monitor results (``modeltap ui``)::

import uvicorn
from modeltap.ui import create_app

uvicorn.run(create_app("/data/modeltap", auth_key="..."), port=8765)
"""

from __future__ import annotations

from modeltap.ui.app import create_app

__all__ = ["create_app"]
