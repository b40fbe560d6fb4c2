"""Facts the program, its settings and the deploy driver share, importable without Pulumi
(the driver's commands import them at start-up)."""

# Pulumi.yaml's `name`: the config namespace of every setting, and the `project` tag the AWS
# provider puts on every resource (__main__.py's default tags).
PROJECT = "aurora-platform"

# Length of a generated master password, and the specials it may hold: RDS refuses '/', '@', '"' and spaces.
MASTER_PASSWORD_LENGTH = 40
MASTER_PASSWORD_SPECIALS = "!#$%^&*()-_=+[]{}<>:?"
