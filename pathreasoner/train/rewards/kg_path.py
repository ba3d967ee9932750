"""KG-path reward: the share of the sample's KG reasoning-path steps that the <think> span follows, in order.

- Steps: every consecutive node pair (a, b), a ≠ b, of every path in the sample's `kg_paths` (lists of
  node names, or build-samples' {"nodes": [...], "relations": [...]} records, or either as a JSON string),
  de-duplicated across paths; node names are mapped through the entity lexicon to canonical names.
- Mentions: the lexicon entities (names or synonyms, word-bounded, longest match) in the <think> span, or
  in the whole text when it has none of the format's tags; a path node that is not a lexicon term is
  found by its own name (case-insensitive, word-bounded, hyphens and spaces interchangeable).
- A step (a, b) is followed when both are mentioned and a mention of a starts before a mention of b
  (first mention of a < last mention of b): somewhere the reasoning goes from a to b.
- R = followed steps / steps, in [0, 1]; an empty <think> scores 0; None (not scored) when the sample has
  no path steps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from itertools import pairwise
from typing import Any

from pathreasoner.errors import DatasetError
from pathreasoner.kg.lexicon import EntityMatcher, fold
from pathreasoner.train.rewards.completions import completion_text
from pathreasoner.train.rewards.entity import EntityLexicon
from pathreasoner.train.rewards.spans import think_span

Step = tuple[str, str]


def path_node_lists(kg_paths: Any) -> list[list[str]]:
    """Node-name lists of a `kg_paths` value: lists of names, {"nodes": [...]} records, or their JSON."""
    if kg_paths is None:
        return []
    if isinstance(kg_paths, str):
        try:
            kg_paths = json.loads(kg_paths) if kg_paths.strip() else []
        except ValueError:
            raise DatasetError(
                f"kg_paths {kg_paths[:80]!r} is not JSON; give lists of node names or build-samples' "
                '{"nodes": [...]} records'
            ) from None
    lists = []
    for path in kg_paths:
        nodes = path.get("nodes", []) if isinstance(path, Mapping) else path
        lists.append([str(n) for n in nodes or []])
    return lists


def path_steps(kg_paths: Any, lexicon: EntityLexicon) -> list[Step]:
    """The distinct consecutive (a, b) node pairs of every path, in canonical names, first seen first."""
    steps: dict[Step, None] = {}
    for nodes in path_node_lists(kg_paths):
        names = [lexicon.canonical(n) for n in nodes if n.strip()]
        for a, b in pairwise(names):
            if a != b:
                steps[(a, b)] = None
    return list(steps)


@lru_cache(maxsize=4096)
def _literal_pattern(name: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in fold(name).split()]
    return re.compile(r"(?<!\w)" + r"[\s\-‐‑–—]+".join(words) + r"(?!\w)", re.IGNORECASE)


def _span_of_mentions(text: str, names: Iterable[str], lexicon: EntityLexicon) -> dict[str, tuple[int, int]]:
    """(first start, last start) of each of `names` mentioned in `text`."""
    wanted = set(names)
    spans: dict[str, tuple[int, int]] = {}
    for m in lexicon.mentions(text):
        if m.canonical in wanted:
            first = spans.get(m.canonical, (m.start, m.start))[0]
            spans[m.canonical] = (first, m.start)
    for name in wanted - lexicon.matcher.canonical_names:
        starts = [m.start() for m in _literal_pattern(name).finditer(text)]
        if starts:
            spans[name] = (starts[0], starts[-1])
    return spans


def followed_share(text: str, steps: list[Step], lexicon: EntityLexicon) -> float | None:
    """Share of `steps` the reasoning `text` follows in order (module docstring); None without steps."""
    if not steps:
        return None
    if not text.strip():
        return 0.0
    spans = _span_of_mentions(text, {n for step in steps for n in step}, lexicon)
    followed = sum(1 for a, b in steps if a in spans and b in spans and spans[a][0] < spans[b][1])
    return followed / len(steps)


def kg_path_score(text: str, kg_paths: Any, lexicon: EntityLexicon) -> float | None:
    """KG-path reward of one response text."""
    return followed_share(think_span(text), path_steps(kg_paths, lexicon), lexicon)


def make_kg_path_reward(
    lexicon: Mapping[str, Iterable[str]] | EntityMatcher | EntityLexicon,
) -> Callable[..., list[float | None]]:
    """TRL reward function `kg_path_reward(completions, kg_paths, **kwargs)` bound to a lexicon."""
    lex = EntityLexicon.of(lexicon)

    def kg_path_reward(
        completions: list[Any], kg_paths: list[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        paths = kg_paths if kg_paths is not None else [None] * len(completions)
        return [kg_path_score(completion_text(c), p, lex) for c, p in zip(completions, paths, strict=True)]

    return kg_path_reward
