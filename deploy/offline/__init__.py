"""The offline plan: the program on the mock engine, the AWS model, the policy analyzer client, check."""
