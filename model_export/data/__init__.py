"""Rows from data files (.npz, .jsonl, .csv): the one reader every command uses, its checks, and model feeds."""
