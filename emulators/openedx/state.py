"""The per-app emulator object: settings, store, tokens, faults and throttle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from flask import current_app

from .config import Settings
from .faults import FaultRegistry
from .seed import apply_seed
from .store import Store
from .throttle import Throttle
from .tokens import TokenService

EXTENSION_KEY = "openedx_emulator"


@dataclass
class Emulator:
    """Everything one emulator app holds."""

    settings: Settings
    store: Store
    tokens: TokenService
    faults: FaultRegistry
    throttle: Throttle
    seed: dict[str, Any]

    def reset(self) -> None:
        """Back to the seed: state replaced, faults and throttle cleared (issued tokens stay valid)."""
        apply_seed(self.store, self.seed, self.settings)
        self.faults.clear()
        self.throttle.clear()


def emulator() -> Emulator:
    """The emulator of the current app."""
    return cast(Emulator, current_app.extensions[EXTENSION_KEY])
