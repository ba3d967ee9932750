"""Diagnosis-specific morphology for synthetic slides: architecture, cell density, colour and texture.

Each curated demo diagnosis gets a `Morphology`: the tissue architecture a pathologist would look for
(glands, mucin lakes, keratinising nests, papillae, clear-cell or trabecular honeycombs, single files,
fibrillary glial tissue with or without necrosis, "fried-egg" cells...), the stroma and nuclear colours of
its organ, and how dense and large the nuclei and structures are. A model that looks at the slide can tell
the diagnoses apart; one that does not cannot (the label is only in the image and the report).

Drawing happens on the work-scale canvas of `pathreasoner.wsi.synthetic` (1/4 of level 0); every
random choice comes from the slide's seeded generator, with a small per-slide jitter of colours and
densities so that no two slides of a diagnosis are alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import ndimage

from pathreasoner.wsi.paint import blend, smooth_noise, soft, stamp_disks, strokes

Architecture = Literal[
    "glands", "small_glands", "mucin", "nests", "papillary", "clear", "trabecular", "single_file",
    "solid", "alveolar", "glial", "fried_egg",
]  # fmt: skip
RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Morphology:
    """How one diagnosis looks: architecture, colours, and densities (per 10,000 work-scale tissue px)."""

    architecture: Architecture
    stroma_rgb: RGB
    nucleus_rgb: RGB = (88.0, 52.0, 132.0)
    accent_rgb: RGB = (244.0, 236.0, 242.0)  # lumen / mucin / keratin / clear cytoplasm / necrosis
    nuclei: float = 45.0  # scattered nuclei per 10k tissue px
    nuclear_radius: tuple[float, float] = (1.6, 3.0)
    structures: float = 2.0  # glands, nests, pools, papillae... per 10k tissue px
    structure_radius: tuple[float, float] = (7.0, 16.0)
    keratin: float = 0.0  # share of nests with a keratin pearl
    necrosis: float = 0.0  # necrotic foci per 10k tissue px (glial: pseudopalisading rims)
    pigment: float = 0.0  # anthracotic specks per 10k tissue px

    def jittered(self, rng: np.random.Generator) -> Morphology:
        """This morphology with the per-slide variation of a real cohort (stain and density)."""

        def colour(rgb: RGB) -> RGB:
            r, g, b = (np.asarray(rgb) + rng.normal(0, 4.0, 3)).clip(0, 250)
            return (float(r), float(g), float(b))

        return replace(
            self,
            stroma_rgb=colour(self.stroma_rgb),
            nucleus_rgb=colour(self.nucleus_rgb),
            nuclei=self.nuclei * float(rng.uniform(0.85, 1.15)),
            structures=self.structures * float(rng.uniform(0.85, 1.15)),
        )


_PALE_LUMEN: RGB = (244.0, 236.0, 242.0)
_MUCIN: RGB = (196.0, 204.0, 228.0)
_KERATIN: RGB = (238.0, 120.0, 130.0)
_CLEAR: RGB = (234.0, 214.0, 230.0)  # clear cytoplasm still reads as tissue (tinted, not glass)
_NECROSIS: RGB = (214.0, 178.0, 200.0)

# curated diagnosis name -> morphology (organs share a stroma palette; architecture separates diagnoses)
MORPHOLOGY: dict[str, Morphology] = {
    # head and neck: keratinising vs non-keratinising squamous nests
    "keratinizing squamous cell carcinoma": Morphology(
        "nests",
        (232.0, 120.0, 86.0),
        accent_rgb=_KERATIN,
        structures=2.4,
        structure_radius=(10.0, 20.0),
        keratin=0.9,
        nuclei=30.0,
    ),
    "squamous cell carcinoma": Morphology(
        "nests",
        (222.0, 150.0, 168.0),
        accent_rgb=_KERATIN,
        structures=3.0,
        structure_radius=(8.0, 15.0),
        keratin=0.0,
        nuclei=60.0,
    ),
    # colorectum: glandular vs mucin lakes
    "adenocarcinoma": Morphology(
        "glands",
        (226.0, 128.0, 176.0),
        structures=3.2,
        structure_radius=(8.0, 15.0),
        nuclei=45.0,
    ),
    "mucinous adenocarcinoma": Morphology(
        "mucin",
        (226.0, 128.0, 176.0),
        accent_rgb=_MUCIN,
        structures=0.9,
        structure_radius=(18.0, 34.0),
        nuclei=25.0,
    ),
    # kidney: clear honeycomb vs papillae
    "clear cell renal cell carcinoma": Morphology(
        "clear",
        (238.0, 210.0, 160.0),
        accent_rgb=_CLEAR,
        structure_radius=(4.0, 6.0),
        nuclei=8.0,
    ),
    "papillary renal cell carcinoma": Morphology(
        "papillary",
        (236.0, 176.0, 190.0),
        nucleus_rgb=(70.0, 40.0, 110.0),
        structures=1.6,
        nuclei=40.0,
    ),
    # liver: trabecular plates and sinusoids
    "hepatocellular carcinoma": Morphology(
        "trabecular",
        (196.0, 84.0, 96.0),
        accent_rgb=(240.0, 214.0, 222.0),
        structure_radius=(5.0, 7.0),
        nuclei=10.0,
    ),
    # pancreas: sparse angulated glands in a pale desmoplastic stroma
    "pancreatic ductal adenocarcinoma": Morphology(
        "glands",
        (236.0, 196.0, 206.0),
        structures=0.8,
        structure_radius=(5.0, 10.0),
        nuclei=18.0,
    ),
    # prostate: crowded small glands
    "prostate adenocarcinoma": Morphology(
        "small_glands",
        (214.0, 162.0, 196.0),
        structures=9.0,
        structure_radius=(3.0, 5.5),
        nuclei=30.0,
    ),
    # bladder: solid sheets of urothelial cells
    "urothelial carcinoma": Morphology(
        "solid",
        (204.0, 148.0, 186.0),
        nucleus_rgb=(96.0, 70.0, 150.0),
        structures=1.2,
        structure_radius=(14.0, 28.0),
        nuclei=50.0,
    ),
    # brain: fibrillary glial tissue; GBM with necrosis, oligodendroglioma with perinuclear halos
    "glioblastoma, IDH-wildtype": Morphology(
        "glial",
        (186.0, 150.0, 214.0),
        accent_rgb=_NECROSIS,
        nuclei=160.0,
        necrosis=0.6,
        structure_radius=(10.0, 18.0),
    ),
    "astrocytoma, IDH-mutant": Morphology(
        "glial",
        (214.0, 170.0, 208.0),
        accent_rgb=_NECROSIS,
        nuclei=70.0,
    ),
    "oligodendroglioma, IDH-mutant and 1p/19q-codeleted": Morphology(
        "fried_egg",
        (214.0, 170.0, 208.0),
        accent_rgb=_CLEAR,
        nuclei=90.0,
        nuclear_radius=(1.8, 2.4),
    ),
    # ovary: papillary serous vs endometrioid glands
    "high-grade serous carcinoma": Morphology(
        "papillary",
        (198.0, 128.0, 176.0),
        nucleus_rgb=(64.0, 36.0, 104.0),
        structures=2.6,
        nuclei=70.0,
    ),
    "endometrioid carcinoma of the ovary": Morphology(
        "glands",
        (198.0, 128.0, 176.0),
        structures=5.0,
        structure_radius=(6.0, 11.0),
        nuclei=50.0,
    ),
    # cervix: squamous nests vs mucinous endocervical glands
    "cervical squamous cell carcinoma": Morphology(
        "nests",
        (206.0, 136.0, 160.0),
        accent_rgb=_KERATIN,
        structures=3.0,
        structure_radius=(8.0, 14.0),
        keratin=0.3,
        nuclei=55.0,
    ),
    "endocervical adenocarcinoma": Morphology(
        "glands",
        (206.0, 136.0, 160.0),
        accent_rgb=_MUCIN,
        structures=2.6,
        structure_radius=(9.0, 16.0),
        nuclei=35.0,
    ),
    # breast: cohesive nests vs single files
    "invasive ductal carcinoma": Morphology(
        "solid",
        (234.0, 162.0, 194.0),
        structures=2.2,
        structure_radius=(8.0, 16.0),
        nuclei=40.0,
    ),
    "invasive lobular carcinoma": Morphology(
        "single_file",
        (244.0, 196.0, 214.0),
        structures=4.0,
        nuclei=20.0,
    ),
    # lung: alveolar/lepidic adenocarcinoma vs keratinising squamous nests, both with anthracotic pigment
    "lung adenocarcinoma": Morphology(
        "alveolar",
        (212.0, 128.0, 158.0),
        accent_rgb=_PALE_LUMEN,
        structure_radius=(7.0, 11.0),
        nuclei=20.0,
        pigment=3.0,
    ),
    "lung squamous cell carcinoma": Morphology(
        "nests",
        (212.0, 128.0, 158.0),
        accent_rgb=_KERATIN,
        structures=2.4,
        structure_radius=(10.0, 18.0),
        keratin=0.6,
        nuclei=40.0,
        pigment=3.0,
    ),
}


def morphology_for(diagnosis: str) -> Morphology:
    """The morphology of a curated diagnosis name; a clear error for names without one."""
    try:
        return MORPHOLOGY[diagnosis]
    except KeyError:
        raise ValueError(
            f"no synthetic morphology for diagnosis {diagnosis!r}; add it to "
            f"pathreasoner.wsi.morphology.MORPHOLOGY (known: {sorted(MORPHOLOGY)})"
        ) from None


# ---- drawing ---------------------------------------------------------------------------------


def draw_morphology(
    rng: np.random.Generator, img: np.ndarray, tissue: np.ndarray, m: Morphology
) -> np.ndarray:
    """Paint `m` into `img` (work scale, float RGB) inside the boolean `tissue` mask."""
    h, w = tissue.shape
    edge = soft(tissue, 1.2)
    fibres = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), (0.8, 4.0))
    fibres /= fibres.std() + 1e-6
    if m.architecture in ("glial", "fried_egg"):  # fine, isotropic fibrillary matrix instead of collagen
        fibres = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), 0.7)
        fibres /= fibres.std() + 1e-6
    stroma_rgb = np.asarray(m.stroma_rgb, dtype=np.float32)
    dense = np.clip(smooth_noise(rng, (h, w), sigma=max(h, w) / 60.0, amplitude=1.0), 0, None)
    stroma = blend(np.broadcast_to(stroma_rgb, (h, w, 3)), 0.35 * dense, stroma_rgb * 0.88)
    img = img * (1.0 - edge[..., None]) + (stroma + 6.0 * fibres[..., None]) * edge[..., None]
    inside = np.flatnonzero(ndimage.binary_erosion(tissue, iterations=3))
    if inside.size == 0:
        return img
    per_10k = inside.size / 10_000.0
    nuclei = np.zeros((h, w), dtype=np.float32)  # opacity of nuclei, painted last
    img, nuclei = _ARCHITECTURES[m.architecture](rng, img, nuclei, tissue, inside, per_10k, m)
    if m.necrosis > 0:
        img, nuclei = _necrosis(rng, img, nuclei, tissue, inside, per_10k, m)
    scattered = rng.choice(inside, size=int(m.nuclei * per_10k))
    ys, xs = np.divmod(scattered, w)
    nuclei = np.maximum(nuclei, stamp_disks((h, w), ys, xs, rng.uniform(*m.nuclear_radius, ys.size)))
    nuclei *= tissue
    img = blend(img, 0.85 * nuclei, np.asarray(m.nucleus_rgb, dtype=np.float32))
    if m.pigment > 0:
        specks = rng.choice(inside, size=int(m.pigment * per_10k))
        sy, sx = np.divmod(specks, w)
        dots = stamp_disks((h, w), sy, sx, rng.uniform(1.0, 2.2, sy.size))
        img = blend(img, 0.9 * dots, np.array([40.0, 36.0, 40.0], dtype=np.float32))
    return img


def _centres(
    rng: np.random.Generator, inside: np.ndarray, count: float, w: int
) -> tuple[np.ndarray, np.ndarray]:
    picked = rng.choice(inside, size=max(1, round(count)))
    ys, xs = np.divmod(picked, w)
    return ys.astype(np.float32), xs.astype(np.float32)


def _rings(
    rng: np.random.Generator, ys: np.ndarray, xs: np.ndarray, radii: np.ndarray, per_px: float = 2.5
) -> tuple[np.ndarray, np.ndarray]:
    """Points on circles (nuclei lining glands / nests)."""
    counts = np.maximum(4, (radii * per_px).astype(int))
    cy, cx, r = np.repeat(ys, counts), np.repeat(xs, counts), np.repeat(radii, counts)
    angle = rng.uniform(0, 2 * np.pi, cy.size)
    return cy + 0.85 * r * np.sin(angle), cx + 0.85 * r * np.cos(angle)


def _nuclei_at(
    shape: tuple[int, int], rng: np.random.Generator, ys: np.ndarray, xs: np.ndarray, m: Morphology
) -> np.ndarray:
    return stamp_disks(shape, ys, xs, rng.uniform(*m.nuclear_radius, ys.size))


def _glands(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    h, w = tissue.shape
    ys, xs = _centres(rng, inside, m.structures * per_10k, w)
    radii = rng.uniform(*m.structure_radius, ys.size).astype(np.float32)
    lumen = stamp_disks((h, w), ys, xs, 0.7 * radii) > 0.5
    img = blend(img, 0.9 * soft(lumen & tissue), np.asarray(m.accent_rgb, dtype=np.float32))
    ry, rx = _rings(rng, ys, xs, radii)
    return img, np.maximum(nuclei, _nuclei_at((h, w), rng, ry, rx, m) * ~lumen)


def _mucin(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    h, w = tissue.shape
    ys, xs = _centres(rng, inside, m.structures * per_10k, w)
    radii = rng.uniform(*m.structure_radius, ys.size).astype(np.float32)
    pools = stamp_disks((h, w), ys, xs, radii) > 0.5
    pools = ndimage.binary_opening(pools | (smooth_noise(rng, (h, w), 6.0, 1.0) > 2.2) & pools)
    img = blend(img, 0.85 * soft(pools & tissue, 1.5), np.asarray(m.accent_rgb, dtype=np.float32))
    # small strips of floating epithelium inside the lakes
    gy, gx = ys + rng.normal(0, 4, ys.size), xs + rng.normal(0, 4, xs.size)
    ry, rx = _rings(rng, gy, gx, np.full(ys.size, 4.0, dtype=np.float32))
    return img, np.maximum(nuclei, _nuclei_at((h, w), rng, ry, rx, m))


def _nests(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    h, w = tissue.shape
    ys, xs = _centres(rng, inside, m.structures * per_10k, w)
    radii = rng.uniform(*m.structure_radius, ys.size).astype(np.float32)
    nest = stamp_disks((h, w), ys, xs, radii) > 0.5
    cytoplasm = np.asarray(m.stroma_rgb, dtype=np.float32) * np.array([1.02, 0.86, 0.84], dtype=np.float32)
    img = blend(img, 0.8 * soft(nest & tissue), cytoplasm)
    pearl = rng.random(ys.size) < m.keratin
    if pearl.any():
        py, px, pr = ys[pearl], xs[pearl], radii[pearl] * 0.55
        whorl = stamp_disks((h, w), py, px, pr)
        rings = stamp_disks((h, w), py, px, pr * 0.6)
        img = blend(img, 0.95 * whorl, np.asarray(m.accent_rgb, dtype=np.float32))
        img = blend(img, 0.5 * rings, np.asarray(m.accent_rgb, dtype=np.float32) * 0.86)
    inner_y = ys[:, None] + rng.normal(0, 1, (ys.size, 8)) * radii[:, None] * 0.45
    inner_x = xs[:, None] + rng.normal(0, 1, (xs.size, 8)) * radii[:, None] * 0.45
    ry, rx = _rings(rng, ys, xs, radii * 1.05, per_px=3.0)
    all_y = np.concatenate([ry, inner_y[~pearl].ravel()])
    all_x = np.concatenate([rx, inner_x[~pearl].ravel()])
    return img, np.maximum(nuclei, _nuclei_at((h, w), rng, all_y, all_x, m))


def _papillary(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    h, w = tissue.shape
    ys, xs = _centres(rng, inside, m.structures * per_10k, w)
    cores = strokes(rng, (h, w), np.stack([ys, xs], axis=1), length=40, curl=0.25)
    cores = ndimage.binary_dilation(cores, iterations=2)
    lining = ndimage.binary_dilation(cores, iterations=2) & ~cores
    spaces = ndimage.binary_dilation(cores, iterations=7) & ~ndimage.binary_dilation(cores, iterations=3)
    img = blend(img, 0.7 * soft(spaces & tissue), np.asarray(_PALE_LUMEN, dtype=np.float32))
    img = blend(img, 0.6 * soft(cores & tissue), np.asarray(m.stroma_rgb, dtype=np.float32) * 0.9)
    ly, lx = np.nonzero(lining)
    keep = rng.random(ly.size) < 0.35
    return img, np.maximum(
        nuclei, _nuclei_at((h, w), rng, ly[keep].astype(np.float32), lx[keep].astype(np.float32), m)
    )


def _honeycomb(
    rng: np.random.Generator, tissue: np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voronoi cells on jittered grid seeds: (cell borders mask, seed ys, seed xs)."""
    h, w = tissue.shape
    gy, gx = np.mgrid[0:h:spacing, 0:w:spacing]
    ys = (gy.ravel() + rng.uniform(-0.35, 0.35, gy.size) * spacing).clip(0, h - 1)
    xs = (gx.ravel() + rng.uniform(-0.35, 0.35, gx.size) * spacing).clip(0, w - 1)
    seeds = np.zeros((h, w), dtype=bool)
    seeds[ys.astype(int), xs.astype(int)] = True
    _, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    label = iy * w + ix
    border = np.zeros((h, w), dtype=bool)
    border[:, 1:] |= label[:, 1:] != label[:, :-1]
    border[1:, :] |= label[1:, :] != label[:-1, :]
    return border, ys.astype(np.float32), xs.astype(np.float32)


def _clear(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    h, w = tissue.shape
    border, ys, xs = _honeycomb(rng, tissue, float(np.mean(m.structure_radius)) * 2)
    border = ndimage.binary_dilation(border)
    img = blend(img, 0.85 * (tissue & ~border), np.asarray(m.accent_rgb, dtype=np.float32))
    img = blend(img, 0.8 * soft(border & tissue, 0.5), np.asarray(m.stroma_rgb, dtype=np.float32) * 0.92)
    return img, np.maximum(nuclei, _nuclei_at((h, w), rng, ys, xs, replace(m, nuclear_radius=(1.2, 1.8))))


def _trabecular(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    h, w = tissue.shape
    border, _, _ = _honeycomb(rng, tissue, float(np.mean(m.structure_radius)) * 2)
    plates = ndimage.binary_dilation(border, iterations=1)
    sinusoid = tissue & ~plates
    img = blend(img, 0.55 * soft(sinusoid, 0.6), np.asarray(m.accent_rgb, dtype=np.float32))
    py, px = np.nonzero(border & tissue)
    keep = rng.random(py.size) < 0.12
    return img, np.maximum(
        nuclei, _nuclei_at((h, w), rng, py[keep].astype(np.float32), px[keep].astype(np.float32), m)
    )


def _alveolar(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    h, w = tissue.shape
    border, _, _ = _honeycomb(rng, tissue, float(np.mean(m.structure_radius)) * 2)
    walls = ndimage.binary_dilation(border, iterations=1)
    img = blend(img, 0.92 * (tissue & ~walls), np.asarray(m.accent_rgb, dtype=np.float32))
    wy, wx = np.nonzero(walls & tissue)
    keep = rng.random(wy.size) < 0.06
    return img, np.maximum(
        nuclei, _nuclei_at((h, w), rng, wy[keep].astype(np.float32), wx[keep].astype(np.float32), m)
    )


def _single_file(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    h, w = tissue.shape
    ys, xs = _centres(rng, inside, m.structures * per_10k, w)
    files = strokes(rng, (h, w), np.stack([ys, xs], axis=1), length=30, curl=0.05)
    fy, fx = np.nonzero(files)
    keep = rng.random(fy.size) < 0.3
    return img, np.maximum(
        nuclei, _nuclei_at((h, w), rng, fy[keep].astype(np.float32), fx[keep].astype(np.float32), m)
    )


def _solid(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    h, w = tissue.shape
    ys, xs = _centres(rng, inside, m.structures * per_10k, w)
    radii = rng.uniform(*m.structure_radius, ys.size).astype(np.float32)
    sheet = (stamp_disks((h, w), ys, xs, radii) > 0.5) & tissue
    img = blend(
        img,
        0.5 * soft(sheet),
        np.asarray(m.stroma_rgb, dtype=np.float32) * np.array([0.9, 0.82, 0.92], dtype=np.float32),
    )
    sy, sx = np.nonzero(sheet)
    keep = rng.random(sy.size) < 0.05
    return img, np.maximum(
        nuclei, _nuclei_at((h, w), rng, sy[keep].astype(np.float32), sx[keep].astype(np.float32), m)
    )


def _glial(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    return img, nuclei  # fibrillary matrix + scattered nuclei (and necrosis) are drawn by the caller


def _fried_egg(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    h, w = tissue.shape
    ys, xs = _centres(rng, inside, m.nuclei * per_10k, w)
    halos = stamp_disks((h, w), ys, xs, np.full(ys.size, m.nuclear_radius[1] + 2.2, dtype=np.float32))
    img = blend(img, 0.75 * halos * tissue, np.asarray(m.accent_rgb, dtype=np.float32))
    return img, np.maximum(nuclei, _nuclei_at((h, w), rng, ys, xs, m))


def _necrosis(rng, img, nuclei, tissue, inside, per_10k, m):  # type: ignore[no-untyped-def]
    """Necrotic foci rimmed by a dense palisade of nuclei (glioblastoma)."""
    h, w = tissue.shape
    ys, xs = _centres(rng, inside, m.necrosis * per_10k, w)
    radii = rng.uniform(*m.structure_radius, ys.size).astype(np.float32)
    focus = stamp_disks((h, w), ys, xs, radii) > 0.5
    img = blend(img, 0.9 * soft(focus & tissue, 1.5), np.asarray(m.accent_rgb, dtype=np.float32))
    nuclei = nuclei * ~focus
    ry, rx = _rings(rng, ys, xs, radii * 1.2, per_px=6.0)
    return img, np.maximum(nuclei, _nuclei_at((h, w), rng, ry, rx, m))


_ARCHITECTURES = {
    "glands": _glands,
    "small_glands": _glands,
    "mucin": _mucin,
    "nests": _nests,
    "papillary": _papillary,
    "clear": _clear,
    "trabecular": _trabecular,
    "alveolar": _alveolar,
    "single_file": _single_file,
    "solid": _solid,
    "glial": _glial,
    "fried_egg": _fried_egg,
}
