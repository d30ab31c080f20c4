"""An output format declared through a ``lago.plugins.output`` entry point."""

from __future__ import annotations

from typing import Any

from lago.plugins.output import OutFormatPlugin


class UpperOutFormatPlugin(OutFormatPlugin):
    def format(self, info_dict: Any) -> str:
        return "\n".join(f"{key.upper()}={info_dict[key]}" for key in sorted(info_dict))
