"""DatabaseProxy: RDS Proxy in front of one Aurora cluster, with end-to-end IAM authentication."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.account import AccountContext, service_trust_policy
from components.aurora_cluster import AuroraCluster
from components.aws_facts import APPLICATION_USER_RE
from components.publish import publish
from components.security_group_rules import port_egress, port_ingress
from components.settings import AccessSettings

ENGINE_FAMILIES = {"aurora-postgresql": "POSTGRESQL", "aurora-mysql": "MYSQL"}
# A proxy name: a letter, then letters, digits and hyphens, no "--", no trailing hyphen, at most
# 60 characters (CreateDBProxy's DBProxyName; the read-only endpoint appends "-ro").
PROXY_NAME_MAX = 60


def db_user_arns(region: str, account: str, resource_id: str, users: list[str] | tuple[str, ...],
                 partition: str = "aws") -> list[str]:
    """The ``rds-db:connect`` resources of ``users`` on a cluster (``cluster-...``) or proxy (``prx-...``),
    as https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html
    spells them."""
    return [f"arn:{partition}:rds-db:{region}:{account}:dbuser:{resource_id}/{user}" for user in users]


def proxy_resource_id(proxy_arn: str) -> str:
    """``prx-...`` from ``arn:aws:rds:REGION:ACCOUNT:db-proxy:prx-...``: what ``rds-db:connect`` names."""
    return proxy_arn.rsplit(":", 1)[-1]


@dataclass
class DatabaseProxyArgs:
    settings: AccessSettings
    """How applications reach the database: the application users the proxy may log in as (its role's
    ``rds-db:connect``, created by ``deploy bootstrap-users``), the idle client timeout (1-28800 s) and
    the pool: its limit and idle connections in percent of the database's ``max_connections``
    (1-100, 0 to the limit) and the seconds a client waits for a pooled connection at the limit (0-300)."""
    name: str
    """Proxy name (``naming.proxy_name``: ``<project>-<stack>-<region>``); the read-only endpoint is ``<name>-ro``."""
    region: str
    """Region of the proxy and its cluster (the ``rds-db:connect`` resource ARNs)."""
    cluster: AuroraCluster
    """The cluster the proxy fronts: its security group admits the proxy, its instances are the targets."""
    vpc_id: pulumi.Input[str]
    """VPC of the proxy's security group: the cluster's VPC."""
    subnet_ids: list[pulumi.Input[str]]
    """Subnets of the proxy's endpoints, in at least two AZs: the private (application) tier, whose
    NACL passes the replies the database tier's NACL sends on ephemeral ports."""
    read_only_endpoint: bool | None = None
    """A ``READ_ONLY`` endpoint to the readers; ``None`` creates one where the cluster has readers."""
    account: AccountContext | None = None
    """Account and partition of the region's provider (``rds-db:connect`` ARNs); ``None`` looks them up."""

    def __post_init__(self):
        s = self.settings
        problems = []
        if not self.name[:1].isalpha() or "--" in self.name or self.name.endswith("-") or len(self.name) > PROXY_NAME_MAX \
                or not all(c.isalnum() or c == "-" for c in self.name):
            problems.append(f"name {self.name!r} must start with a letter and hold up to {PROXY_NAME_MAX} letters, "
                            "digits and single hyphens, not ending in one")
        if not s.application_users:
            problems.append("application_users must name at least one database user")
        for user in s.application_users:
            if not APPLICATION_USER_RE.fullmatch(user):
                problems.append(f"application_users: {user!r} is not 1-32 letters, digits or underscores starting with a letter")
        for field_name, low, high in (
            ("proxy_idle_client_timeout", 1, 28800),
            ("proxy_max_connections_percent", 1, 100),
            ("proxy_max_idle_connections_percent", 0, s.proxy_max_connections_percent),
            ("proxy_connection_borrow_timeout", 0, 300),
        ):
            if not low <= getattr(s, field_name) <= high:
                problems.append(f"{field_name} must be {low} to {high}, not {getattr(s, field_name)}")
        if len(self.subnet_ids) < 2:
            problems.append("subnet_ids must list subnets in at least two availability zones")
        if problems:
            raise ValueError("invalid DatabaseProxyArgs: " + "; ".join(problems))


class DatabaseProxy(pulumi.ComponentResource):
    """RDS Proxy for one cluster: TLS required, end-to-end IAM authentication (clients and the proxy
    both authenticate with IAM, no secret per user), its own security group, a read/write and a
    read-only endpoint. Callers admit their security groups with ``allow_access_from`` and grant
    their roles ``rds-db:connect`` on ``connect_resource_arns``."""

    proxy: aws.rds.Proxy
    target: aws.rds.ProxyTarget
    security_group: aws.ec2.SecurityGroup
    role: aws.iam.Role
    endpoint: pulumi.Output[str]
    read_only_endpoint: pulumi.Output[str] | None
    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    connect_resource_arns: pulumi.Output[list[str]]
    port: int

    def __init__(self, name: str, args: DatabaseProxyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurora-platform:database:DatabaseProxy", name, None, opts)
        cluster = args.cluster
        if cluster.instance_count == 0:
            raise ValueError(f"DatabaseProxy {name}: cluster {cluster.identifier} has no instances to route to")
        self._name = name
        self._args = args
        self._account = account = AccountContext.of(args.account, self)
        self.port = cluster.port
        users = list(args.settings.application_users)

        # Ingress rules are separate resources (none inline): callers add theirs with allow_access_from.
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-proxy",
            vpc_id=args.vpc_id,
            description=f"RDS Proxy {args.name}: engine port from admitted security groups; egress to the database only",
            revoke_rules_on_delete=True,
            tags={"Name": f"{args.name}-proxy"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        port_egress(f"{name}-to-database", self.security_group.id, cluster.security_group_id, self.port,
                    "database engine port", pulumi.ResourceOptions(parent=self))
        # The other half: the database admits the proxy, on its engine port only.
        cluster.allow_access_from(f"{name}-admitted", self.security_group.id,
                                  description=f"engine port from RDS Proxy {args.name}")

        role_policy = self._role()
        self.proxy = self._proxy(role_policy)
        self.read_only_endpoint = self._read_only_endpoint()

        connect_resource_arns = account.apply(
            lambda account_id, partition, arn: db_user_arns(args.region, account_id, proxy_resource_id(arn), users, partition),
            self.proxy.arn)
        publish(self, endpoint=self.proxy.endpoint, read_only_endpoint=self.read_only_endpoint, arn=self.proxy.arn,
                name=self.proxy.name, security_group_id=self.security_group.id, connect_resource_arns=connect_resource_arns)

    def _role(self) -> aws.iam.RolePolicy:
        """With end-to-end IAM authentication the proxy logs in to the database with its role:
        rds-db:connect on the cluster's resource id for each application user, and nothing else
        (no Secrets Manager read; https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-iam-setup.html)."""
        name, args, cluster = self._name, self._args, self._args.cluster
        users = list(args.settings.application_users)
        self.role = aws.iam.Role(
            f"{name}-proxy",
            description=f"RDS Proxy {args.name}: IAM login to {cluster.identifier} as the application users",
            # Only RDS acting for this account may assume it: the aws:SourceAccount condition RDS documents for
            # the roles it assumes ("Preventing cross-service confused deputy problems",
            # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/cross-service-confused-deputy-prevention.html).
            assume_role_policy=pulumi.Output.from_input(self._account.account_id).apply(
                lambda account_id: service_trust_policy("rds.amazonaws.com",
                                                        {"StringEquals": {"aws:SourceAccount": account_id}})),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return aws.iam.RolePolicy(
            f"{name}-proxy-connect",
            role=self.role.name,
            policy=self._account.apply(
                lambda account_id, partition, resource_id: json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{"Sid": "ConnectAsApplicationUsers", "Effect": "Allow", "Action": "rds-db:connect",
                                   "Resource": db_user_arns(args.region, account_id, resource_id, users, partition)}],
                }),
                cluster.cluster_resource_id),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _proxy(self, role_policy: aws.iam.RolePolicy) -> aws.rds.Proxy:
        """The proxy, its default target group's pool and the cluster as its target."""
        name, args, cluster, settings = self._name, self._args, self._args.cluster, self._args.settings
        proxy = aws.rds.Proxy(
            name,
            name=args.name,
            engine_family=ENGINE_FAMILIES[cluster.engine],
            role_arn=self.role.arn,
            vpc_subnet_ids=args.subnet_ids,
            vpc_security_group_ids=[self.security_group.id],
            require_tls=True,
            default_auth_scheme="IAM_AUTH",
            idle_client_timeout=settings.proxy_idle_client_timeout,
            debug_logging=False,  # would log SQL text, bind values included
            tags={"Name": args.name},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        target_group = aws.rds.ProxyDefaultTargetGroup(
            f"{name}-default",
            db_proxy_name=proxy.name,
            connection_pool_config=aws.rds.ProxyDefaultTargetGroupConnectionPoolConfigArgs(
                max_connections_percent=settings.proxy_max_connections_percent,
                max_idle_connections_percent=settings.proxy_max_idle_connections_percent,
                connection_borrow_timeout=settings.proxy_connection_borrow_timeout,
            ),
            opts=pulumi.ResourceOptions(parent=self, replace_with=[proxy]),
        )
        # Registered once the instances exist: a target without instances has nothing to route to.
        # A replaced proxy (a subnet or engine change: vpc_subnet_ids and engine_family force it in
        # rds/proxy.go) keeps its name, so nothing in the pool's or the target's inputs changes once it
        # exists: replace_with makes the engine configure the new proxy's pool and register the cluster
        # with it, instead of keeping the state of the old proxy's.
        self.target = aws.rds.ProxyTarget(
            f"{name}-cluster",
            db_proxy_name=proxy.name,
            target_group_name=target_group.name,
            db_cluster_identifier=cluster.cluster_identifier,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(cluster.instances), replace_with=[proxy]),
        )
        return proxy

    def _read_only_endpoint(self) -> pulumi.Output[str] | None:
        """A READ_ONLY endpoint to the readers, where the cluster has some (or the caller asked)."""
        args, cluster = self._args, self._args.cluster
        has_readers = cluster.instance_count > 1 or cluster.global_secondary
        if not (args.read_only_endpoint if args.read_only_endpoint is not None else has_readers):
            return None
        read_only = aws.rds.ProxyEndpoint(
            f"{self._name}-read-only",
            db_proxy_name=self.proxy.name,
            db_proxy_endpoint_name=f"{args.name}-ro",
            target_role="READ_ONLY",
            vpc_subnet_ids=args.subnet_ids,
            vpc_security_group_ids=[self.security_group.id],
            tags={"Name": f"{args.name}-ro"},
            # Its name is fixed and not auto-named, so the provider would create the new endpoint
            # before deleting the old one: delete first. It goes with a replaced proxy (whose name
            # stays the same).
            # A READ_ONLY endpoint routes to the target's readers: it waits for the target's registration.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, replace_with=[self.proxy],
                                        depends_on=[self.target]),
        )
        return read_only.endpoint

    def allow_access_from(self, name: str, source_security_group_id: pulumi.Input[str],
                          description: str = "engine port from an application security group"
                          ) -> aws.vpc.SecurityGroupIngressRule:
        """Admit one application security group to the proxy's endpoints, on the engine port only."""
        return port_ingress(name, self.security_group.id, source_security_group_id, self.port, description,
                            pulumi.ResourceOptions(parent=self))
