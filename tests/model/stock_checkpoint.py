"""A tiny checkpoint laid out like a downloaded Qwen2.5-VL: the stock chat template, no generation markers.

`data/qwen2_5_vl_chat_template.json` is the `chat_template.json` that Qwen/Qwen2.5-VL-*-Instruct ship
(the same text sits in their tokenizer_config.json).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

STOCK_TEMPLATE_FILE = Path(__file__).parent / "data" / "qwen2_5_vl_chat_template.json"
STOCK_TEMPLATE: str = json.loads(STOCK_TEMPLATE_FILE.read_text())["chat_template"]


def save_stock_checkpoint(tiny_dir: Path, dest: Path) -> Path:
    """Copy the tiny checkpoint to `dest` with the stock template in place of the package one."""
    shutil.copytree(tiny_dir, dest)
    (dest / "chat_template.jinja").unlink()
    shutil.copy(STOCK_TEMPLATE_FILE, dest / "chat_template.json")
    tokenizer_config = json.loads((dest / "tokenizer_config.json").read_text())
    tokenizer_config["chat_template"] = STOCK_TEMPLATE
    (dest / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    return dest
