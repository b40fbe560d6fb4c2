"""The aurora-platform driver: `python -m deploy <command> --stack S` (see README)."""
