"""Knowledge graph: curated pathology facts + OBO/OncoTree sources → versioned nodes/edges, lexicon, paths."""
