"""Link reports to tile-slides output and copy their views (resized) into the samples folder."""

from __future__ import annotations

import json
import logging
from io import BytesIO
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from pathreasoner.errors import DatasetError
from pathreasoner.io_utils import atomic_write_bytes

logger = logging.getLogger(__name__)

VIEWS_FILE = "views.json"
JPEG_QUALITY = 90


def slide_dirs(tiles_dir: Path | None) -> list[Path]:
    """Slide folders of a tile-slides output (those holding views.json), sorted by name."""
    if tiles_dir is None:
        return []
    tiles_dir = Path(tiles_dir)
    if not tiles_dir.is_dir():
        logger.warning(
            "tiles folder %s does not exist: records get no images (run `pathreasoner tile-slides` first)",
            tiles_dir,
        )
        return []
    return sorted(p for p in tiles_dir.iterdir() if (p / VIEWS_FILE).is_file())


def find_slide_dir(dirs: list[Path], slide_id: str | None, patient_id: str) -> Path | None:
    """The slide folder named `slide_id`, else the first whose name starts with the patient id."""
    by_name = {d.name: d for d in dirs}
    if slide_id and slide_id in by_name:
        return by_name[slide_id]
    prefix = patient_id.upper()
    for d in dirs:
        if d.name.upper().startswith(prefix):
            return d
    return None


def view_paths(slide_dir: Path) -> list[Path]:
    """Views listed in views.json (paths relative to the slide folder; thumbnail first)."""
    try:
        listed = json.loads((slide_dir / VIEWS_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(
            f"{slide_dir / VIEWS_FILE} is unreadable ({exc}); re-run tile-slides for that slide"
        ) from None
    if isinstance(listed, dict):
        listed = listed.get("views", [])
    paths = []
    for item in listed:
        rel = item.get("path") if isinstance(item, dict) else item
        if isinstance(rel, str) and (slide_dir / rel).is_file():
            paths.append(slide_dir / rel)
    return paths


def copy_views(slide_dir: Path, out_dir: Path, n_views: int, view_px: int) -> list[str]:
    """Copy the first `n_views` views of a slide, longest side `view_px`, to out_dir/images/<slide>/;
    returns their paths relative to out_dir."""
    copied: list[str] = []
    for i, source in enumerate(view_paths(slide_dir)[:n_views]):
        try:
            with Image.open(source) as image:
                image = image.convert("RGB")
                image.thumbnail((view_px, view_px), Image.Resampling.LANCZOS)
                rel = Path("images") / slide_dir.name / f"{i:02d}_{source.stem}.jpg"
                buffer = BytesIO()
                image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
        except (OSError, UnidentifiedImageError) as exc:
            logger.warning("skipping unreadable view %s: %s", source, exc)
            continue
        atomic_write_bytes(out_dir / rel, buffer.getvalue())
        copied.append(rel.as_posix())
    return copied
