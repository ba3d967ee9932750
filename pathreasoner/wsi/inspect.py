"""inspect-slide: what a slide is (vendor, levels, MPP and its source) and how much tissue it shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pathreasoner.config import TilingConfig
from pathreasoner.errors import SlideReadError
from pathreasoner.wsi.grid import plan_grid
from pathreasoner.wsi.reader import open_slide
from pathreasoner.wsi.tiler import mask_size_px
from pathreasoner.wsi.tissue import detect_tissue, tile_tissue_fraction


def inspect_slide(path: Path | str, cfg: TilingConfig) -> dict[str, Any]:
    """Describe a slide: info, tissue fraction of the thumbnail and the tile grid ``cfg`` would use.

    Raises ``SlideReadError`` if the slide cannot be opened or read. A slide too coarse for
    ``cfg.target_mpp`` is still described; its ``grid`` entry then holds the reason instead.
    """
    with open_slide(path, cfg.default_mpp) as slide:
        report: dict[str, Any] = slide.info.to_dict()
        options: dict[str, Any] = {"remove_pen": cfg.remove_pen, "background": cfg.tissue_background}
        try:
            grid = plan_grid(slide.info, cfg)
        except SlideReadError as exc:
            tissue = detect_tissue(slide, cfg.thumbnail_px, **options)
            report["grid"] = {"error": str(exc)}
        else:
            tissue = detect_tissue(slide, mask_size_px(slide, grid, cfg), **options)
            level_x, level_y = grid.level_coords()
            fraction = tile_tissue_fraction(
                tissue, grid.to_level0(level_x), grid.to_level0(level_y), grid.size0
            )
            report["grid"] = {
                **grid.to_dict(),
                "tissue_tiles": int((fraction >= cfg.min_tissue_frac).sum()) if fraction.size else 0,
            }
        report["associated_images"] = sorted(slide.handle.associated_images)
        report["tissue_fraction"] = round(tissue.tissue_fraction, 4)
        report["thumbnail_px"] = list(tissue.thumbnail.size)
        report["background_rgb"] = [round(v, 1) for v in tissue.background_rgb]
        report["dark_background"] = tissue.dark_background
        return report
