"""Deployment critical path: how long a first `pulumi up` of a stack takes, against the bound AWS forces.

The program runs on the mock engine (``deploy.offline.capture``); its dependency graph is what the
engine would schedule from:

- a resource waits for every resource in its ``dependencies`` and ``property_dependencies``
  (the SDK awaits those outputs before it registers the resource);
- it waits for its explicit provider (the SDK awaits the provider reference) and for a
  parent that is a cloud resource (the SDK awaits the parent's URN, which a custom
  resource's registration returns only once created);
- a component is not a cloud resource: it takes no time, and waiting for a component
  means waiting for every cloud resource under it.

Each cloud resource is weighted with a typical AWS creation time (``CREATION_SECONDS``,
sources and assumptions beside each entry). The estimate is the longest weighted path
(assumption: every operation that can run in parallel does; the engine's parallelism limit
is not reached by the handful of long operations that matter here). The bound is what AWS
itself forces on an Aurora Global Database: the region key, then the primary cluster, its
writer instance, a secondary cluster (AWS refuses one until the primary has a writer) and
its writer, everything else in parallel. A single-region stack's bound is key, cluster, writer.

Every wait on the critical path is then judged: needed (an input that references the other
resource, which AWS resolves; a ``depends_on`` listed in ``NEEDED_DEPENDS_ON`` with its
reason) or not (a reference inside a document AWS does not check, ``OPTIONAL_INPUTS``; any
other ``depends_on``). The script prints the waits that are not needed, what the estimate
would be without them, and why what still exceeds the bound is needed.

    .venv/bin/python bench/critical_path.py [--stack prod] [--mode update]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from deploy.offline.capture import Capture, CapturedResource, run_program  # noqa: E402

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
KEY = "aws:kms/key:Key"

# Typical creation time in seconds of one resource of each type, as `pulumi up` (the bridged
# Terraform AWS provider) experiences it: the API call plus the provider's wait until the
# resource is usable. Sources: AWS documentation on each service's asynchronous creation,
# the Terraform AWS provider's create waiters and default timeouts, and published `pulumi up`
# / `terraform apply` logs. They are typical values, not worst cases; the ratio estimate/bound
# is what this benchmark judges, and it depends on the long RDS steps far more than on the rest.
CREATION_SECONDS: dict[str, float] = {
    # RDS. Planning figures: an empty provisioned Aurora cluster 5-10 min (take 7),
    # a cluster instance 8-12 min (take 10). A secondary cluster of a global database also sets
    # up cross-region storage replication: 10-15 min as commonly reported (take 12; see SECONDARY_CLUSTER).
    CLUSTER: 7 * 60,
    INSTANCE: 10 * 60,
    # An empty global cluster (no source cluster) is metadata: CreateGlobalCluster returns in
    # about a second and the provider's waiter sees "available" within seconds.
    "aws:rds/globalCluster:GlobalCluster": 5,
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": 3,
    "aws:rds/parameterGroup:ParameterGroup": 3,
    "aws:rds/subnetGroup:SubnetGroup": 3,
    # The provider's waiter sleeps 30 s before its first poll for "active", then polls every 10 s.
    "aws:rds/eventSubscription:EventSubscription": 40,
    # KMS: CreateKey is synchronous; the provider then waits for the key policy, rotation and
    # tags to be readable back (eventual consistency): 10-30 s typical.
    KEY: 20,
    "aws:kms/alias:Alias": 2,
    # IAM: create calls are synchronous; the provider retries on propagation for a few seconds,
    # and the first use by a service (RDS monitoring, EC2) tolerates the rest.
    "aws:iam/role:Role": 10,
    "aws:iam/rolePolicy:RolePolicy": 3,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 3,
    "aws:iam/policy:Policy": 3,
    "aws:iam/instanceProfile:InstanceProfile": 10,
    # VPC: the provider waits for "available" on VPCs and subnets (seconds); NAT gateways take
    # 1-2 min to become available (take 2); interface endpoints 1-2 min (take 2), gateway
    # endpoints seconds (see vpc_endpoint_seconds).
    "aws:ec2/vpc:Vpc": 5,
    "aws:ec2/subnet:Subnet": 5,
    "aws:ec2/internetGateway:InternetGateway": 3,
    "aws:ec2/eip:Eip": 3,
    "aws:ec2/natGateway:NatGateway": 2 * 60,
    "aws:ec2/routeTable:RouteTable": 3,
    "aws:ec2/route:Route": 2,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": 2,
    "aws:ec2/securityGroup:SecurityGroup": 5,
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": 3,
    "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl": 3,
    "aws:ec2/flowLog:FlowLog": 5,
    "aws:ec2/vpcEndpoint:VpcEndpoint": 2 * 60,
    "aws:ec2/launchTemplate:LaunchTemplate": 3,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 2,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": 2,
    # The provider waits for min_size healthy instances (wait_for_capacity_timeout): boot and
    # health checks of the fleet, 3-5 min (take 4).
    "aws:autoscaling/group:Group": 4 * 60,
    "aws:autoscaling/policy:Policy": 3,
    "aws:appautoscaling/target:Target": 3,
    "aws:appautoscaling/policy:Policy": 3,
    "aws:cloudwatch/logGroup:LogGroup": 2,
    "aws:cloudwatch/metricAlarm:MetricAlarm": 2,
    "aws:cloudwatch/dashboard:Dashboard": 2,
    "aws:sns/topic:Topic": 3,
    "aws:sns/topicPolicy:TopicPolicy": 3,
    # A secret with replicas: the provider waits for each replica to be in sync (seconds).
    "aws:secretsmanager/secret:Secret": 10,
    "aws:secretsmanager/secretVersion:SecretVersion": 2,
    # Computed locally by the provider plugin, no cloud call.
    "random:index/randomPassword:RandomPassword": 0,
}
SECONDARY_CLUSTER_SECONDS = 12 * 60
GATEWAY_ENDPOINT_SECONDS = 10  # an S3/DynamoDB gateway endpoint is route table entries, no ENIs
PROVIDER_SECONDS = 0  # a provider is configured by the engine, not created in AWS
DEFAULT_SECONDS = 10  # any other AWS resource: a synchronous API call or a short waiter


# Which waits are needed. A wait through an input is needed: the input holds the id, ARN or
# name of the other resource and AWS refuses a reference to something that does not exist yet,
# except in the inputs below, which name other resources inside a document AWS does not check
# against existing resources (a literal ARN or identifier pattern, known before anything is
# created, would do as well).
OPTIONAL_INPUTS: dict[tuple[str, str], str] = {
    ("aws:sns/topicPolicy:TopicPolicy", "policy"): "an SNS policy's conditions are ARN patterns; AWS does not check them",
    ("aws:kms/key:Key", "policy"): "a key policy names principals and conditions, not existing resources",
    ("aws:iam/role:Role", "assumeRolePolicy"): "a trust policy's conditions are ARN patterns",
    ("aws:iam/rolePolicy:RolePolicy", "policy"): "a policy's Resource ARNs may name resources that do not exist yet",
    ("aws:iam/policy:Policy", "policy"): "a policy's Resource ARNs may name resources that do not exist yet",
    ("aws:cloudwatch/dashboard:Dashboard", "dashboardBody"): "a dashboard names metrics, not resources",
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "dimensions"): "an alarm's dimensions need no existing resource",
}
# A wait through `depends_on` alone is needed only where AWS (or a documented design rule)
# requires the other resource first:
NEEDED_DEPENDS_ON: dict[tuple[str, str], str] = {
    (CLUSTER, INSTANCE): "AWS refuses a global secondary until the primary has a writer instance (DESIGN 5.3)",
    (CLUSTER, "aws:cloudwatch/logGroup:LogGroup"):
        "the log groups RDS exports to are pre-created, or RDS creates them without retention or CMK",
    ("aws:ec2/natGateway:NatGateway", "aws:ec2/internetGateway:InternetGateway"):
        "a public NAT gateway needs the VPC's internet gateway (Gateway.NotAttached otherwise)",
    ("aws:rds/eventSubscription:EventSubscription", "aws:sns/topicPolicy:TopicPolicy"):
        "RDS checks when it creates a subscription that it may publish to the topic (SNSNoAuthorization)",
    ("aws:appautoscaling/target:Target", INSTANCE):
        "registered before the readers exist, auto scaling would add readers of its own to reach its minimum",
    ("aws:ec2/flowLog:FlowLog", "aws:iam/rolePolicy:RolePolicy"):
        "a flow log created before its role can write to the log group stays in access error",
    (INSTANCE, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        "RDS refuses an instance whose enhanced monitoring role does not yet hold its managed policy",
    # RegisterDBProxyTargets fails with InvalidDBInstanceState while a member is CREATING (or, say,
    # CONFIGURING_ENHANCED_MONITORING): terraform-provider-aws#19096, aws-cdk#31304; the provider retries
    # only on CREATING and for 5 minutes (internal/service/rds/proxy_target.go), less than an instance takes.
    ("aws:rds/proxyTarget:ProxyTarget", INSTANCE):
        "RDS refuses to register a cluster as a proxy target while its instances are still being created",
    ("aws:rds/proxyEndpoint:ProxyEndpoint", "aws:rds/proxyTarget:ProxyTarget"):
        "design: a READ_ONLY proxy endpoint serves the target's readers, so it comes after the registration",
}


def creation_seconds(resource: CapturedResource) -> float:
    if not resource.custom or resource.type.startswith("pulumi:providers:"):
        return 0 if not resource.custom else PROVIDER_SECONDS
    if resource.type == CLUSTER and is_global_secondary(resource):
        return SECONDARY_CLUSTER_SECONDS
    if resource.type == "aws:ec2/vpcEndpoint:VpcEndpoint" and resource.inputs.get("vpcEndpointType") == "Gateway":
        return GATEWAY_ENDPOINT_SECONDS
    return CREATION_SECONDS.get(resource.type, DEFAULT_SECONDS)


def is_global_secondary(cluster: CapturedResource) -> bool:
    """A member of a global cluster without credentials of its own: it replicates from the primary."""
    return bool(cluster.inputs.get("globalClusterIdentifier")) and not cluster.inputs.get("masterUsername")


@dataclass(frozen=True)
class Wait:
    """How one resource waits for another: through inputs, `depends_on`, its provider or its parent."""

    inputs: tuple[str, ...] = ()
    depends_on: bool = False
    provider: bool = False
    parent: bool = False

    def describe(self) -> str:
        ways = [f"input {', '.join(self.inputs)}"] if self.inputs else []
        ways += [name for name, on in (("depends_on", self.depends_on), ("provider", self.provider),
                                       ("parent", self.parent)) if on]
        return " and ".join(ways)

    def merge(self, other: Wait) -> Wait:
        return Wait(tuple(sorted(set(self.inputs) | set(other.inputs))), self.depends_on or other.depends_on,
                    self.provider or other.provider, self.parent or other.parent)


def waits(capture: Capture) -> dict[str, dict[str, Wait]]:
    """URN -> {URN of a cloud resource it waits for: how}. A wait for a component is a wait for
    every cloud resource under it, as Pulumi does."""
    by_urn = capture.by_urn()
    children: dict[str, list[str]] = {}
    for r in capture.resources:
        if r.parent:
            children.setdefault(r.parent, []).append(r.urn)

    def cloud(urn: str) -> list[str]:
        resource = by_urn.get(urn)
        if resource is None:
            return []  # the stack itself, or a resource outside the program
        if resource.custom:
            return [urn]
        return [leaf for child in children.get(urn, []) for leaf in cloud(child)]

    graph: dict[str, dict[str, Wait]] = {}
    for r in capture.resources:
        direct: dict[str, Wait] = {}

        def add(urn: str, wait: Wait) -> None:
            for leaf in cloud(urn):
                if leaf != r.urn:  # noqa: B023 - used within this iteration only
                    direct[leaf] = direct[leaf].merge(wait) if leaf in direct else wait  # noqa: B023

        through_inputs = set()
        for prop, urns in r.property_dependencies.items():
            for urn in urns:
                add(urn, Wait(inputs=(prop,)))
                through_inputs.add(urn)
        for urn in r.dependencies:
            if urn not in through_inputs:
                add(urn, Wait(depends_on=True))
        if r.provider:
            add(r.provider.rsplit("::", 1)[0], Wait(provider=True))
        parent = by_urn.get(r.parent or "")
        if parent is not None and parent.custom:
            add(parent.urn, Wait(parent=True))
        graph[r.urn] = direct
    return graph


def judge(resource: CapturedResource, dependency: CapturedResource, wait: Wait) -> tuple[bool, str]:
    """Whether AWS (or a documented design rule) needs ``resource`` to wait for ``dependency``, and why."""
    if wait.provider or wait.parent:
        return True, "Pulumi creates a resource after its provider and its parent"
    needed_inputs = [p for p in wait.inputs if (resource.type, p) not in OPTIONAL_INPUTS]
    if needed_inputs:
        return True, f"its input {', '.join(needed_inputs)} references {dependency.type.split(':')[-1]}"
    if wait.depends_on and (resource.type, dependency.type) in NEEDED_DEPENDS_ON:
        return True, NEEDED_DEPENDS_ON[(resource.type, dependency.type)]
    if wait.inputs:
        return False, OPTIONAL_INPUTS[(resource.type, wait.inputs[0])]
    return False, "an explicit depends_on that neither AWS nor the design requires"


@dataclass
class Schedule:
    """Earliest start and finish of every resource with unlimited parallelism."""

    start: dict[str, float]
    finish: dict[str, float]
    waits: dict[str, dict[str, Wait]]
    weights: dict[str, float]

    @property
    def end(self) -> str:
        return max(self.finish, key=lambda urn: (self.finish[urn], self.weights[urn]))

    @property
    def total(self) -> float:
        return self.finish[self.end] if self.finish else 0.0

    def critical_path(self) -> list[str]:
        """The chain of resources that decided when the last one finished, first to last."""
        path = [self.end]
        while self.waits[path[-1]]:
            latest = max(self.waits[path[-1]], key=lambda urn: (self.finish[urn], self.weights[urn]))
            if self.finish[latest] < self.start[path[-1]] or self.finish[latest] == 0:
                break
            path.append(latest)
        return list(reversed(path))


def schedule(capture: Capture, graph: dict[str, dict[str, Wait]]) -> Schedule:
    by_urn = capture.by_urn()
    weights = {r.urn: creation_seconds(r) for r in capture.resources}
    start: dict[str, float] = {}
    finish: dict[str, float] = {}
    visiting: set[str] = set()

    def visit(urn: str) -> float:
        if urn in finish:
            return finish[urn]
        if urn in visiting:
            raise ValueError(f"dependency cycle through {by_urn[urn].name}")
        visiting.add(urn)
        start[urn] = max((visit(dep) for dep in graph[urn]), default=0.0)
        finish[urn] = start[urn] + weights[urn]
        visiting.discard(urn)
        return finish[urn]

    for r in capture.resources:
        visit(r.urn)
    return Schedule(start, finish, graph, weights)


def forced_chain(capture: Capture) -> list[CapturedResource]:
    """The chain AWS forces: key -> primary cluster -> writer [-> secondary cluster -> its writer].

    With several secondaries, the one whose chain is longest (they are created in parallel).
    """
    by_urn = capture.by_urn()
    instances = capture.by_type(INSTANCE)

    def writer(cluster: CapturedResource) -> CapturedResource | None:
        members = [i for i in instances if cluster.urn in i.property_dependencies.get("clusterIdentifier", [])]
        members.sort(key=lambda i: (i.inputs.get("promotionTier", 15), i.name))
        return members[0] if members else None

    def key(cluster: CapturedResource) -> CapturedResource | None:
        keys = [by_urn[u] for u in cluster.property_dependencies.get("kmsKeyId", []) if by_urn[u].type == KEY]
        return keys[0] if keys else None

    clusters = capture.by_type(CLUSTER)
    primaries = [c for c in clusters if not is_global_secondary(c)]
    if not primaries:
        raise ValueError("no primary Aurora cluster in the stack")
    primary = primaries[0]
    chain = [r for r in (key(primary), primary, writer(primary)) if r is not None]
    best: list[CapturedResource] = []
    for secondary in (c for c in clusters if is_global_secondary(c)):
        tail = [r for r in (secondary, writer(secondary)) if r is not None]
        if sum(map(creation_seconds, tail)) > sum(map(creation_seconds, best)):
            best = tail
    return chain + best


def duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def report(capture: Capture, out=sys.stdout) -> dict:
    by_urn = capture.by_urn()
    graph = waits(capture)
    plan = schedule(capture, graph)
    needed_graph = {urn: {dep: w for dep, w in deps.items() if judge(by_urn[urn], by_urn[dep], w)[0]}
                    for urn, deps in graph.items()}
    needed_plan = schedule(capture, needed_graph)
    chain = forced_chain(capture)
    chain_urns = {r.urn for r in chain}
    bound = sum(map(creation_seconds, chain))
    cloud = [r for r in capture.resources if r.custom and not r.type.startswith("pulumi:providers:")]

    def show(title: str, schedule_: Schedule) -> list[tuple[str, str, bool, str]]:
        """Print a critical path; return its hops (waiting, waited for, needed, why)."""
        print(title, file=out)
        print(f"  {'start':>7}  {'takes':>6}  resource  [how it waits for the line above]", file=out)
        path = [u for u in schedule_.critical_path() if schedule_.weights[u] or u in chain_urns]
        hops = []
        for previous, urn in zip([None, *path], path, strict=False):
            resource = by_urn[urn]
            note = ""
            if previous is not None:
                wait = graph[urn].get(previous, Wait())
                needed, why = judge(resource, by_urn[previous], wait)
                hops.append((urn, previous, needed, why))
                note = f"  [{wait.describe() or 'through resources that take no time'}" + \
                    ("" if needed else "; NOT NEEDED") + "]"
            mark = "" if urn in chain_urns else "  (outside the AWS chain)"
            print(f"  {duration(schedule_.start[urn]):>7}  {duration(schedule_.weights[urn]):>6}  "
                  f"{resource.type}  {resource.name}{mark}{note}", file=out)
        return hops

    print(f"Deployment critical path of stack {capture.stack} (mock engine, {capture.mode} mode): "
          f"{len(cloud)} cloud resources, {len(capture.resources) - len(cloud)} components and providers\n", file=out)
    hops = show(f"Estimated `pulumi up` (longest weighted path): {duration(plan.total)}", plan)
    print(f"\nLower bound AWS forces (key -> primary cluster -> primary writer -> secondary cluster -> "
          f"secondary writer, everything else in parallel): {duration(bound)}", file=out)
    for r in chain:
        print(f"  {duration(creation_seconds(r)):>6}  {r.type}  {r.name}", file=out)
    ratio = plan.total / bound if bound else float("nan")
    print(f"\nRatio estimate / bound: {ratio:.2f} ({ratio:.4f}; goal 1.00)", file=out)

    unneeded = [(urn, dep, why) for urn, dep, needed, why in hops if not needed]
    if unneeded:
        print(f"\nWaits on the critical path that AWS does not need (they cost {duration(plan.total - needed_plan.total)}):",
              file=out)
        for urn, dep, why in unneeded:
            r, d = by_urn[urn], by_urn[dep]
            print(f"  {r.type} {r.name} waits for {d.type} {d.name} through {graph[urn][dep].describe()}: {why}",
                  file=out)
    else:
        print("\nEvery wait on the critical path is needed.", file=out)
    needed_ratio = needed_plan.total / bound if bound else float("nan")
    if unneeded:
        print(f"Without them the estimate is {duration(needed_plan.total)}: ratio {needed_ratio:.2f} ({needed_ratio:.4f}).",
              file=out)
    extra = [(urn, dep, why) for urn, dep, needed, why in
             (hops if not unneeded else _needed_hops(needed_plan, graph, by_urn)) if urn not in chain_urns and needed]
    if needed_plan.total > bound and extra:
        print(f"What remains above the bound ({duration(needed_plan.total - bound)}) is needed:", file=out)
        for urn, dep, why in extra:
            print(f"  {by_urn[urn].type} {by_urn[urn].name} ({duration(creation_seconds(by_urn[urn]))}) "
                  f"after {by_urn[dep].name}: {why}", file=out)
    if plan.total < bound:
        print("The estimate is below the bound: a dependency AWS requires is missing from the program.", file=out)
    unknown = sorted({r.type for r in cloud if r.type not in CREATION_SECONDS})
    if unknown:
        print(f"Types weighted with the default {duration(DEFAULT_SECONDS)}: {', '.join(unknown)}", file=out)
    return {"estimate": plan.total, "bound": bound, "ratio": ratio, "needed_estimate": needed_plan.total,
            "unneeded": [(by_urn[u].name, by_urn[d].name) for u, d, _ in unneeded]}


def _needed_hops(plan: Schedule, graph, by_urn) -> list[tuple[str, str, bool, str]]:
    path = [u for u in plan.critical_path() if plan.weights[u]]
    return [(urn, previous, *judge(by_urn[urn], by_urn[previous], graph[urn].get(previous, Wait())))
            for previous, urn in zip(path, path[1:], strict=False)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="prod", help="stack to capture (default prod)")
    parser.add_argument("--mode", choices=("preview", "update"), default="update",
                        help="capture mode; the graph is the same in both (default update)")
    args = parser.parse_args(argv)
    report(run_program(args.stack, args.mode))
    return 0


if __name__ == "__main__":
    sys.exit(main())
