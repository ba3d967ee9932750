"""Reasoning samples: reports → findings/diagnosis → KG entities and paths → <observe>/<think>/<answer> records."""
