"""The offline model of AWS: what the AWS and random providers would answer.

One model for both offline tiers: ``deploy check``'s mock engine (``deploy/capture.py``)
and the provider doubles the real Pulumi engine runs in the end-to-end tests
(``tests/e2e/providers``). It knows how the provider auto-names a resource, which
attributes AWS computes and what they look like, and what the data sources the program
calls return. Ids, ARNs and endpoints are made up but shaped like AWS's and stable for a
given type and name, so two runs of the same stack agree.
"""

from __future__ import annotations

import hashlib
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
    if type_ == "aws:kms/key:Key":
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
    return {"name": f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:7]}"}


def computed_state(type_: str, name: str, resource_id: str, region: str, inputs: dict) -> dict[str, Any]:
    """Computed attributes the program reads, shaped like the values AWS returns."""
    service = type_.split(":")[1].split("/")[0]
    state: dict[str, Any] = {"arn": f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{type_.split(':')[-1].lower()}/{name}"}
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
    elif type_ == "aws:ec2/launchTemplate:LaunchTemplate":
        state.update(latestVersion=1, defaultVersion=1)
    elif type_ == "aws:cloudwatch/logGroup:LogGroup":
        state.update(arn=f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{inputs.get('name', name)}")
    return state


def invoke(token: str, region: str) -> dict[str, Any]:
    """The result of a data source (provider function) the program calls."""
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci", "userId": "AIDA", "id": ACCOUNT_ID}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
    if token == "aws:index/getRegion:getRegion":
        return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
    raise NotImplementedError(f"the offline model of AWS has no answer for invoke {token}")
