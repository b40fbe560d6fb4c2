"""The offline model of AWS: what the AWS and random providers would answer.

One model for both offline tiers: ``deploy check``'s mock engine (``deploy/offline/capture.py``)
and the provider doubles the real Pulumi engine runs in the end-to-end tests
(``tests/e2e/providers``). It knows how the provider auto-names a resource, which
attributes AWS computes and what they look like, and what the data sources the program
calls return. Ids, ARNs and endpoints are made up but shaped like AWS's and stable for a
given type and name, so two runs of the same stack agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

ACCOUNT_ID = "123456789012"


def fake_id(type_: str, name: str) -> str:
    digest = hashlib.sha256(f"{type_}/{name}".encode()).hexdigest()
    prefixes = {
        "aws:ec2/vpc:Vpc": "vpc-", "aws:ec2/subnet:Subnet": "subnet-", "aws:ec2/securityGroup:SecurityGroup": "sg-",
        "aws:ec2/routeTable:RouteTable": "rtb-", "aws:ec2/internetGateway:InternetGateway": "igw-",
        "aws:ec2/natGateway:NatGateway": "nat-", "aws:ec2/eip:Eip": "eipalloc-",
        "aws:ec2/launchTemplate:LaunchTemplate": "lt-", "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg-", "aws:ec2/networkAcl:NetworkAcl": "acl-",
        "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl": "acl-", "aws:ec2/flowLog:FlowLog": "fl-",
    }
    if type_ in ("aws:kms/key:Key", "aws:backup/plan:Plan", "aws:backup/selection:Selection"):
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    prefix = prefixes.get(type_)
    return f"{prefix}{digest[:17]}" if prefix is not None else f"{name}-id"


# Resource types whose physical `name` the AWS provider derives from the logical name when the
# program sets none (Pulumi auto-naming). The provider does it during preview too.
AUTONAMED_TYPES = frozenset({
    "aws:rds/clusterParameterGroup:ClusterParameterGroup", "aws:rds/parameterGroup:ParameterGroup",
    "aws:ec2/securityGroup:SecurityGroup", "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy", "aws:iam/instanceProfile:InstanceProfile", "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:autoscaling/group:Group", "aws:sns/topic:Topic", "aws:secretsmanager/secret:Secret",
    "aws:cloudwatch/logGroup:LogGroup", "aws:rds/eventSubscription:EventSubscription",
    "aws:appautoscaling/policy:Policy",
})


def autoname(type_: str, name: str, inputs: dict) -> dict[str, str]:
    if type_ not in AUTONAMED_TYPES or inputs.get("name") or inputs.get("namePrefix"):
        return {}
    return {"name": _autoname_value(name)}


def _autoname_value(name: str) -> str:
    return f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:7]}"


def computed_state(type_: str, name: str, resource_id: str, region: str, inputs: dict) -> dict[str, Any]:
    """Computed attributes the program reads, shaped like the values AWS returns."""
    service = type_.split(":")[1].split("/")[0]
    state: dict[str, Any] = {}
    if "arn" not in inputs:  # an `arn` input (a topic policy's topic, say) is the resource's own value
        state["arn"] = f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{type_.split(':')[-1].lower()}/{name}"
    if type_ == "aws:kms/key:Key":
        state.update(arn=f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{resource_id}", keyId=resource_id)
    elif type_ == "aws:rds/cluster:Cluster":
        identifier = inputs.get("clusterIdentifier") or name
        host = f"{identifier}.cluster-c0ffee.{region}.rds.amazonaws.com"
        state.update(
            arn=f"arn:aws:rds:{region}:{ACCOUNT_ID}:cluster:{identifier}",
            clusterIdentifier=identifier,
            clusterResourceId=f"cluster-{resource_id[:20].upper()}",
            endpoint=host,
            readerEndpoint=host.replace(".cluster-", ".cluster-ro-"),
            port=inputs.get("port") or (5432 if "postgres" in str(inputs.get("engine")) else 3306),
        )
        if inputs.get("manageMasterUserPassword"):
            state["masterUserSecrets"] = [{
                "secretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:rds!cluster-{resource_id[:8]}-AbCdEf",
                "kmsKeyId": inputs.get("masterUserSecretKmsKeyId"),
                "secretStatus": "active",
            }]
    elif type_ == "aws:rds/clusterInstance:ClusterInstance":
        identifier = inputs.get("identifier") or name
        state.update(arn=f"arn:aws:rds:{region}:{ACCOUNT_ID}:db:{identifier}", identifier=identifier,
                     endpoint=f"{identifier}.c0ffee.{region}.rds.amazonaws.com")
    elif type_ == "aws:rds/clusterEndpoint:ClusterEndpoint":
        state["endpoint"] = f"{inputs.get('clusterEndpointIdentifier') or name}.cluster-custom-c0ffee.{region}.rds.amazonaws.com"
    elif type_ == "aws:rds/globalCluster:GlobalCluster":
        state.update(arn=f"arn:aws:rds::{ACCOUNT_ID}:global-cluster:{inputs.get('globalClusterIdentifier', name)}")
    elif type_ == "aws:secretsmanager/secret:Secret":
        state.update(arn=f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{inputs.get('name', name)}-AbCdEf")
    elif type_ == "aws:iam/role:Role":
        state.update(arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{inputs.get('name', name)}", name=inputs.get("name", name))
    elif type_ in ("aws:autoscaling/group:Group", "aws:sns/topic:Topic"):
        state.setdefault("name", inputs.get("name") or name)
        if type_ == "aws:sns/topic:Topic":
            state["arn"] = f"arn:aws:sns:{region}:{ACCOUNT_ID}:{state['name']}"
    elif type_ == "random:index/randomId:RandomId":
        state = {"hex": hashlib.sha256(name.encode()).hexdigest()[: 2 * int(inputs.get("byteLength", 4))]}
    elif type_ == "random:index/randomPassword:RandomPassword":
        # Made up, stable per name; holds a lower, an upper, a digit and a special, as the inputs ask.
        body = hashlib.sha256(f"password/{name}".encode()).hexdigest()
        special = (inputs.get("overrideSpecial") or "!")[:1]
        state = {"result": f"aA1{special}{body}"[: max(int(inputs.get("length", 16)), 4)]}
    elif type_ == "aws:ec2/vpc:Vpc":
        # The default network ACL, security group and main route table AWS creates with every VPC.
        state.update(defaultNetworkAclId=fake_id("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl", name),
                     defaultSecurityGroupId=fake_id("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", name),
                     mainRouteTableId=fake_id("aws:ec2/routeTable:RouteTable", f"{name}-main"))
    elif type_ == "aws:ec2/launchTemplate:LaunchTemplate":
        state.update(latestVersion=1, defaultVersion=1)
    elif type_ == "aws:rds/proxy:Proxy":
        proxy_name = inputs.get("name") or name
        resource = f"prx-{hashlib.sha256(proxy_name.encode()).hexdigest()[:17]}"
        state.update(arn=f"arn:aws:rds:{region}:{ACCOUNT_ID}:db-proxy:{resource}", name=proxy_name,
                     endpoint=f"{proxy_name}.proxy-c0ffee.{region}.rds.amazonaws.com")
    elif type_ == "aws:rds/proxyEndpoint:ProxyEndpoint":
        endpoint_name = inputs.get("dbProxyEndpointName") or name
        resource = f"prx-endpoint-{hashlib.sha256(endpoint_name.encode()).hexdigest()[:17]}"
        state.update(arn=f"arn:aws:rds:{region}:{ACCOUNT_ID}:db-proxy-endpoint:{resource}",
                     endpoint=f"{endpoint_name}.endpoint.proxy-c0ffee.{region}.rds.amazonaws.com")
    elif type_ == "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup":
        state.update(name="default")  # the only target group a proxy has
    elif type_ == "aws:cloudwatch/logGroup:LogGroup":
        state.update(arn=f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{inputs.get('name', name)}")
    elif type_ == "aws:backup/vault:Vault":
        vault = inputs.get("name") or name
        state.update(arn=f"arn:aws:backup:{region}:{ACCOUNT_ID}:backup-vault:{vault}", name=vault)
    elif type_ == "aws:backup/plan:Plan":
        state.update(arn=f"arn:aws:backup:{region}:{ACCOUNT_ID}:backup-plan:{resource_id}",
                     version=hashlib.sha256(f"version/{name}".encode()).hexdigest()[:32])
    elif type_ == "aws:backup/restoreTestingPlan:RestoreTestingPlan":
        plan = inputs.get("name") or name
        state.update(arn=f"arn:aws:backup:{region}:{ACCOUNT_ID}:restore-testing-plan:{plan}-{resource_id[-8:]}", name=plan)
    return state


def invoke(token: str, region: str, account_id: str = ACCOUNT_ID) -> dict[str, Any]:
    """The result of a data source (provider function) the program calls; ``account_id`` is the caller's."""
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": account_id, "arn": f"arn:aws:iam::{account_id}:user/ci", "userId": "AIDA", "id": account_id}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
    if token == "aws:index/getRegion:getRegion":
        return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
    raise NotImplementedError(f"the offline model of AWS has no answer for invoke {token}")


# Input properties whose change makes the provider replace the resource (the provider's
# Diff reports them in `replaces`). Read from the schemas the providers are bridged from:
# `ForceNew: true` in hashicorp/terraform-provider-aws (internal/service/<service>/<resource>.go)
# and `RequiresReplace` in hashicorp/terraform-provider-random (internal/provider/resource_*.go).
# Names are the Pulumi ones (camelCase, and pulumi-aws's renames: a topic subscription's
# `topic_arn` is `topic`). Conditional replacements are left out where this program never
# meets the condition: storageType replaces only outside Aurora engines (customdiff.ForceNewIf
# in rds/cluster.go), a subnet's ipv6CidrBlock, a VPC's instanceTenancy, a security group
# rule's change of source kind, a VPC endpoint's privateDnsEnabled (replaces a Gateway
# endpoint only, and only the Interface endpoints set it) and the dnsOptions fields
# privateDnsPreference / privateDnsSpecifiedDomains (the program sets no dnsOptions).
# The table covers every AWS and random type the program creates, on every stack and with
# every optional part turned on (tests/test_replacement_table.py keeps it so); a type with
# an empty set replaces on no input. The sources were read at the stored copies of
# terraform-provider-aws, of varying age; where the copy is older than the provider
# pulumi-aws 7.x bundles (it still imports aws-sdk-go v1) the comment says "(older copy)":
# the attributes cited there are the long-standing ones, but a newer version may differ.
REPLACING_PROPERTIES: dict[str, frozenset[str]] = {
    # rds/cluster.go
    "aws:rds/cluster:Cluster": frozenset({
        "clusterIdentifier", "clusterIdentifierPrefix", "engine", "engineMode", "kmsKeyId", "storageEncrypted",
        "masterUsername", "databaseName", "dbSubnetGroupName", "availabilityZones", "sourceRegion",
        "snapshotIdentifier", "restoreToPointInTime", "s3Import"}),
    # rds/cluster_instance.go
    "aws:rds/clusterInstance:ClusterInstance": frozenset({
        "identifier", "identifierPrefix", "clusterIdentifier", "engine", "availabilityZone", "dbSubnetGroupName",
        "customIamInstanceProfile"}),
    # rds/cluster_endpoint.go (type and members update in place: ModifyDBClusterEndpoint)
    "aws:rds/clusterEndpoint:ClusterEndpoint": frozenset({"clusterEndpointIdentifier", "clusterIdentifier"}),
    # rds/global_cluster.go
    "aws:rds/globalCluster:GlobalCluster": frozenset({
        "globalClusterIdentifier", "engine", "storageEncrypted", "sourceDbClusterIdentifier", "databaseName"}),
    # rds/proxy.go, rds/proxy_endpoint.go (a proxy's name, auth and TLS update in place)
    "aws:rds/proxy:Proxy": frozenset({"engineFamily", "vpcSubnetIds", "endpointNetworkType",
                                      "targetConnectionNetworkType"}),
    "aws:rds/proxyEndpoint:ProxyEndpoint": frozenset({"dbProxyEndpointName", "dbProxyName", "targetRole",
                                                      "vpcSubnetIds"}),
    # rds/proxy_target.go (no update: every argument), rds/proxy_default_target_group.go (older copy)
    "aws:rds/proxyTarget:ProxyTarget": frozenset({"dbClusterIdentifier", "dbInstanceIdentifier", "dbProxyName",
                                                  "targetGroupName"}),
    "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": frozenset({"dbProxyName"}),
    # rds/event_subscription.go
    "aws:rds/eventSubscription:EventSubscription": frozenset({"name", "namePrefix"}),
    # rds/cluster_parameter_group.go, rds/parameter_group.go, rds/subnet_group.go
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": frozenset({"name", "namePrefix", "family", "description"}),
    "aws:rds/parameterGroup:ParameterGroup": frozenset({"name", "namePrefix", "family", "description"}),
    "aws:rds/subnetGroup:SubnetGroup": frozenset({"name", "namePrefix"}),
    # backup/vault.go, backup/vault_lock_configuration.go, backup/selection.go (no update: every argument)
    "aws:backup/vault:Vault": frozenset({"name", "kmsKeyArn"}),
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": frozenset({
        "backupVaultName", "changeableForDays", "maxRetentionDays", "minRetentionDays"}),
    "aws:backup/selection:Selection": frozenset({
        "name", "conditions", "iamRoleArn", "notResources", "planId", "selectionTags", "resources"}),
    # backup/plan.go, backup/restore_testing_plan.go, backup/restore_testing_selection.go (RequiresReplace)
    "aws:backup/plan:Plan": frozenset({"name"}),
    "aws:backup/restoreTestingPlan:RestoreTestingPlan": frozenset({"name"}),
    "aws:backup/restoreTestingSelection:RestoreTestingSelection": frozenset({
        "name", "protectedResourceType", "restoreTestingPlanName"}),
    # kms/key.go, kms/alias.go
    "aws:kms/key:Key": frozenset({"customKeyStoreId", "customerMasterKeySpec", "keyUsage", "multiRegion", "xksKeyId"}),
    "aws:kms/alias:Alias": frozenset({"name", "namePrefix"}),
    # secretsmanager/secret.go, secretsmanager/secret_version.go
    "aws:secretsmanager/secret:Secret": frozenset({"name", "namePrefix"}),
    "aws:secretsmanager/secretVersion:SecretVersion": frozenset({"secretId", "secretString", "secretBinary"}),
    # secretsmanager/secret_rotation.go
    "aws:secretsmanager/secretRotation:SecretRotation": frozenset({"secretId"}),
    # ec2/vpc_.go, ec2/vpc_subnet.go, ec2/vpc_security_group.go, ec2/vpc_route_table.go, ec2/vpc_route.go
    "aws:ec2/vpc:Vpc": frozenset({"cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength"}),
    "aws:ec2/subnet:Subnet": frozenset({"vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId", "outpostArn"}),
    "aws:ec2/securityGroup:SecurityGroup": frozenset({"name", "namePrefix", "description", "vpcId"}),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": frozenset({"securityGroupId"}),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": frozenset({"securityGroupId"}),
    "aws:ec2/routeTable:RouteTable": frozenset({"vpcId"}),
    "aws:ec2/route:Route": frozenset({"routeTableId", "destinationCidrBlock", "destinationIpv6CidrBlock",
                                      "destinationPrefixListId"}),
    # ec2/vpc_route_table_association.go (older copy; a new routeTableId is an in-place re-association)
    "aws:ec2/routeTableAssociation:RouteTableAssociation": frozenset({"gatewayId", "subnetId"}),
    # ec2/vpc_internet_gateway.go (older copy; a new vpcId detaches and attaches in place)
    "aws:ec2/internetGateway:InternetGateway": frozenset(),
    # ec2/vpc_network_acl.go (older copy), ec2/vpc_default_network_acl.go (older copy),
    # ec2/vpc_default_security_group.go
    "aws:ec2/networkAcl:NetworkAcl": frozenset({"vpcId"}),
    "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl": frozenset({"defaultNetworkAclId"}),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": frozenset({"vpcId"}),
    # ec2/vpc_endpoint.go
    "aws:ec2/vpcEndpoint:VpcEndpoint": frozenset({"vpcId", "serviceName", "vpcEndpointType", "serviceRegion",
                                                  "resourceConfigurationArn", "serviceNetworkArn"}),
    # ec2/vpc_nat_gateway.go, ec2/ec2_eip.go, ec2/vpc_flow_log.go (every argument but tags)
    "aws:ec2/natGateway:NatGateway": frozenset({"allocationId", "connectivityType", "privateIp", "subnetId", "vpcId"}),
    "aws:ec2/eip:Eip": frozenset({"address", "domain", "ipamPoolId", "networkBorderGroup", "publicIpv4Pool"}),
    "aws:ec2/flowLog:FlowLog": frozenset({
        "deliverCrossAccountRole", "destinationOptions", "eniId", "iamRoleArn", "logDestination",
        "logDestinationType", "logFormat", "maxAggregationInterval", "subnetId", "trafficType", "transitGatewayId",
        "transitGatewayAttachmentId", "vpcId"}),
    # ec2/ec2_launch_template.go, autoscaling/group.go
    "aws:ec2/launchTemplate:LaunchTemplate": frozenset({"name", "namePrefix"}),
    "aws:autoscaling/group:Group": frozenset({"name", "namePrefix"}),
    # autoscaling/policy.go, appautoscaling/target.go, appautoscaling/policy.go (older copy)
    "aws:autoscaling/policy:Policy": frozenset({"autoscalingGroupName", "name"}),
    "aws:appautoscaling/target:Target": frozenset({"resourceId", "scalableDimension", "serviceNamespace"}),
    "aws:appautoscaling/policy:Policy": frozenset({"name", "resourceId", "scalableDimension", "serviceNamespace"}),
    # iam/role.go, iam/role_policy.go, iam/role_policy_attachment.go, iam/instance_profile.go
    "aws:iam/role:Role": frozenset({"name", "namePrefix", "path"}),
    "aws:iam/rolePolicy:RolePolicy": frozenset({"role", "name", "namePrefix"}),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": frozenset({"role", "policyArn"}),
    "aws:iam/instanceProfile:InstanceProfile": frozenset({"name", "namePrefix", "path"}),
    # iam/policy.go (a new policy document is a new policy version, in place)
    "aws:iam/policy:Policy": frozenset({"name", "namePrefix", "path", "description"}),
    # cloudwatch/metric_alarm.go, cloudwatch/dashboard.go
    "aws:cloudwatch/metricAlarm:MetricAlarm": frozenset({"name"}),
    "aws:cloudwatch/dashboard:Dashboard": frozenset({"dashboardName"}),
    # logs/group.go, sns/topic.go
    "aws:cloudwatch/logGroup:LogGroup": frozenset({"name", "namePrefix", "logGroupClass"}),
    "aws:sns/topic:Topic": frozenset({"name", "namePrefix", "fifoTopic"}),
    # sns/topic_policy.go, sns/topic_subscription.go (`topic` is the provider's `topic_arn`)
    "aws:sns/topicPolicy:TopicPolicy": frozenset({"arn"}),
    "aws:sns/topicSubscription:TopicSubscription": frozenset({"endpoint", "protocol", "topic"}),
    # terraform-provider-random: resource_password.go, resource_id.go (keepers: on any real change)
    "random:index/randomPassword:RandomPassword": frozenset({
        "length", "special", "upper", "lower", "number", "numeric", "minNumeric", "minUpper", "minLower",
        "minSpecial", "overrideSpecial", "keepers"}),
    "random:index/randomId:RandomId": frozenset({"byteLength", "prefix", "keepers"}),
}


# Types that pulumi-aws replaces delete-first: `DeleteBeforeReplace: true` in its resource
# overrides (provider/resource_overrides.go in pulumi-aws 7.x; provider/resources.go before
# 7.0). For the attachments "a create followed by a delete actually deletes the same attachment
# we just created, since it is structurally equivalent". Of these the program creates only
# iam.RolePolicyAttachment; the others are listed so a new use of them is answered right.
DELETE_BEFORE_REPLACE_TYPES = frozenset({
    "aws:apigateway/integration:Integration",
    "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter",  # only 1 active filter is legal at once
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:efs/mountTarget:MountTarget",  # only 1 mount target per AZ
    "aws:iam/accountAlias:AccountAlias",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
})

# pulumi-aws auto-names the `name` input of every resource that has one (provider/autonaming.go),
# except where an override maps `name` without auto-naming (provider/resource_overrides.go).
NAME_NOT_AUTONAMED_TYPES = frozenset({
    "aws:route53/record:Record",  # "Do not autoname Route53 records"
    "aws:directoryservice/directory:Directory",
})


def delete_before_replace(type_: str, name: str, replaces: Collection[str], news: Mapping[str, Any]) -> bool:
    """Whether the provider answers a replacement of ``name`` with delete-before-replace.

    As pulumi-terraform-bridge's Diff decides it: only when something is replaced, and then for
    the types above, or when an auto-nameable ``name`` was set by the program rather than by
    the auto-namer (``nameRequiresDeleteBeforeReplace``: the new resource would take the same
    name). Other fixed names (a cluster instance's ``identifier``, a proxy endpoint's
    ``dbProxyEndpointName``) are not auto-named, so the provider replaces them create-first.
    Random's resources have no ``name`` input and no delete-first types.
    """
    if not replaces:
        return False
    if type_ in DELETE_BEFORE_REPLACE_TYPES:
        return True
    if not type_.startswith("aws:") or type_ in NAME_NOT_AUTONAMED_TYPES or not news.get("name"):
        return False
    return news["name"] != _autoname_value(name)
