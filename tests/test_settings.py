"""Stack settings: the committed stacks parse; every bad value is one clear message, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pulumi
import pytest

from components import setting_rules
from components.aws_facts import ENGINES, engine_version_pattern
from components.settings import (
    SETTINGS,
    AccessSettings,
    BackupSettings,
    DatabaseSettings,
    FleetSettings,
    MonitoringSettings,
    NetworkSettings,
    SettingsError,
    parse_settings,
    read,
)
from deploy import cli
from deploy.offline.stack_config import PROJECT_DIR, load_stack_config


def settings_of(stack: str, **overrides):
    raw = load_stack_config(stack)
    raw.update({f"aurora-platform:{k}": v for k, v in overrides.items()})
    return parse_settings(raw, stack)


def test_committed_stacks_parse():
    dev, prod = settings_of("dev"), settings_of("prod")
    assert (dev.primary_region, dev.global_database, dev.production) == ("us-east-2", None, False)
    assert prod.primary_region == "us-east-1" and prod.production
    assert prod.regions == ("us-east-1", "us-west-2") and prod.writer_region == "us-east-1"
    assert prod.database.reader_count == 2 and len(prod.network.availability_zones) == 3
    assert prod.database.backup_retention_days >= 14 and prod.database.deletion_protection


# (setting, bad value as the engine passes it, text that must appear: what is allowed)
BAD_SETTINGS = [
    ("engine", "oracle", "allowed: aurora-postgresql, aurora-mysql"),
    ("engineVersion", "16", "MAJOR.MINOR with major 13-17"),
    ("readerCount", "16", "allowed: 0 to 15"),
    ("readerCount", "two", "expected a whole number; allowed: 0 to 15"),
    ("backupRetentionDays", "40", "allowed: 1 to 35"),
    ("vpcCidr", "10.0.0.0/8", "/16 to /20"),
    ("vpcCidr", "10.0.0.300/16", "expected an IPv4 network in CIDR form"),
    ("vpcCidr", "10.0.0.1/16", "host bits zero"),
    ("azCount", "7", "allowed: 2 to 6"),
    ("azCount", "5", "region us-east-2 offers 3 availability zones"),
    ("natStrategy", "nat-per-subnet", "allowed: none, single, per-az"),
    ("instanceClass", "r7g.large", "allowed: db.serverless or db.r8g"),
    ("instanceClass", "db.m5.large", "not an Aurora class for aurora-postgresql"),
    ("serverlessMaxCapacity", "300", "allowed: 1 to 256 ACUs in steps of 0.5"),
    ("serverlessMinCapacity", "0.3", "allowed: 0 to 256 ACUs in steps of 0.5"),
    ("monitoringInterval", "45", "allowed: 0, 1, 5, 10, 15, 30, 60"),
    ("logRetentionDays", "100", "allowed: 1, 3, 5, 7, 14, 30, 60, 90"),
    ("preferredBackupWindow", "3am-4am", "expected hh24:mi-hh24:mi"),
    ("preferredBackupWindow", "03:00-03:10", "at least 30 minutes"),
    ("preferredMaintenanceWindow", "sunday:05:00-sunday:06:00", "expected ddd:hh24:mi-ddd:hh24:mi"),
    ("preferredMaintenanceWindow", "mon:03:30-mon:04:30", "overlaps the backup window 03:00-04:00"),
    ("backtrackWindowHours", "24", "backtrack is an Aurora MySQL feature"),
    ("masterUsername", "postgres", "a well-known default name"),
    ("storageType", "gp3", "allowed: aurora, aurora-iopt1"),
    ("performanceInsightsRetentionDays", "30", "allowed: 7, 31, 62"),
    ("interfaceEndpoints", '["kms", "ftp"]', "allowed items: kms, secretsmanager"),
    ("allowedSecurityGroupIds", '["0.0.0.0/0"]', "CIDR ranges are never admitted"),
    ("fleetMaxSize", "101", "allowed: 0 to 100"),
    ("readerCont", "2", "unknown setting; did you mean readerCount?"),
    ("availabilityZones", '["us-east-2a", "us-east-2a"]', "items must not repeat"),
    ("availabilityZones", '["us-east-2a", "us-east-2b", "us-east-2c", "us-east-2d", "us-east-2e", "us-east-2f", "us-east-2g"]',
     "7 zones; allowed: 2 to 6"),
    ("availabilityZones", '["us-west-2a", "us-west-2b"]', "zone names must be us-east-2 followed by a letter"),
]


@pytest.mark.parametrize("key,value,allowed", BAD_SETTINGS, ids=[f"{k}={v}" for k, v, _ in BAD_SETTINGS])
def test_bad_setting_is_one_clear_message(key, value, allowed):
    with pytest.raises(SettingsError) as caught:
        settings_of("dev", **{key: value})
    message = str(caught.value)
    assert len(caught.value.problems) == 1, message
    assert f"aurora-platform:{key}" in message
    assert allowed in message


def test_production_guard_rails_cannot_be_turned_off():
    with pytest.raises(SettingsError) as caught:
        settings_of("prod", deletionProtection="false", skipFinalSnapshot="true", protectResources="false")
    assert len(caught.value.problems) == 3
    for key in ("deletionProtection", "skipFinalSnapshot", "protectResources"):
        assert f"aurora-platform:{key}" in str(caught.value)
    assert "allowed in a production stack" in str(caught.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as caught:
        settings_of("dev", readerCount="20", backupRetentionDays="0", engine="aurora-mysql")
    problems = caught.value.problems
    assert any("readerCount" in p for p in problems)
    assert any("backupRetentionDays" in p for p in problems)
    assert any("engineVersion" in p and "8.0.mysql_aurora" in p for p in problems)


def test_serverless_capacity_order():
    with pytest.raises(SettingsError, match="serverlessMinCapacity.*must not exceed serverlessMaxCapacity"):
        settings_of("dev", instanceClass="db.serverless", serverlessMinCapacity="8", serverlessMaxCapacity="4")
    ok = settings_of("dev", instanceClass="db.serverless", serverlessMinCapacity="0", serverlessMaxCapacity="2.5")
    assert ok.database.serverless and ok.database.serverless_max_capacity == 2.5


def test_fleet_sizes_must_be_ordered():
    with pytest.raises(SettingsError, match=r"fleetDesiredCapacity = 5: needs fleetMinSize <= fleetDesiredCapacity <= fleetMaxSize"):
        settings_of("dev", fleetDesiredCapacity="5")


def test_reader_smaller_than_writer_is_a_warning():
    settings = settings_of("prod", readerInstanceClass="db.r7g.large")
    assert any("smaller than the writer" in w for w in settings.warnings)
    assert not any("smaller" in w for w in settings_of("prod").warnings)


def test_mysql_backtrack_allowed_for_regional_cluster():
    settings = settings_of("regional-mysql", backtrackWindowHours="24")
    assert settings.database.backtrack_window_hours == 24 and settings.database.port == 3306


def test_cli_reports_bad_settings_without_traceback(capsys):
    code = cli.main(["check", "--stack", "dev", "--set", "readerCount=16", "--set", "natStrategy=maybe"])
    err = capsys.readouterr().err
    assert code == 2
    assert "aurora-platform:readerCount = 16: allowed: 0 to 15" in err
    assert "aurora-platform:natStrategy = 'maybe': allowed: none, single, per-az" in err
    assert "Traceback" not in err


def test_cli_unknown_stack_exits_2(capsys):
    assert cli.main(["check", "--stack", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown stack 'nope'" in err and "dev, prod" in err


def test_cli_end_to_end_no_traceback():
    result = subprocess.run([sys.executable, "-m", "deploy", "check", "--stack", "prod", "--set", "vpcCidr=10.0.0.0/24"],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "aurora-platform:vpcCidr = '10.0.0.0/24': prefix /24 not allowed: /16 to /20" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_nothing_is_declared_when_settings_are_invalid():
    from deploy.offline.capture import run_program

    raw = load_stack_config("dev")
    raw["aurora-platform:readerCount"] = "99"
    from deploy.offline import capture as capture_module

    monitors = []
    original = capture_module._CapturingMonitor

    class Spy(original):
        def __init__(self, mocks):
            super().__init__(mocks)
            monitors.append(self)

    capture_module._CapturingMonitor = Spy
    try:
        with pytest.raises(SettingsError) as caught:
            run_program("dev", "preview", config=raw)
    finally:
        capture_module._CapturingMonitor = original
    assert monitors and monitors[0].captured == []
    # RunError is how Pulumi is told to print the message without a traceback.
    assert isinstance(caught.value, pulumi.RunError)


def test_global_database_object_round_trips_as_json():
    raw = load_stack_config("prod")
    value = json.loads(raw["aurora-platform:globalDatabase"])
    assert value["secondaryRegions"][0]["region"] == "us-west-2"


def test_reader_auto_scaling_needs_a_reader():
    with pytest.raises(SettingsError, match="readerAutoScaling = true: needs readerCount of at least 1"):
        settings_of("prod", readerCount="0")


GROUPS = {"network": NetworkSettings, "database": DatabaseSettings, "fleet": FleetSettings, "access": AccessSettings,
          "monitoring": MonitoringSettings, "backup": BackupSettings}


def test_settings_are_not_pulumi_bound():
    """The declarations, the rules and the facts load without the Pulumi SDK (the runbooks import them)."""
    code = ("import sys; import components.settings, components.setting_rules, components.aws_facts; "
            "sys.exit('pulumi' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR).returncode == 0


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_a_group_is_built_from_its_declarations_with_their_defaults(group):
    built = GROUPS[group]()
    declared = {s.attr: s.value_default for s in SETTINGS if s.group == group and s.attr}
    assert {name: getattr(built, name) for name in declared} == declared


def test_every_declaration_has_one_example_change_or_says_why_not():
    for setting in SETTINGS:
        assert (setting.example is None) != (not setting.no_example), setting.key
        assert setting.example is None or setting.example != setting.default, setting.key


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.example is not None], ids=lambda s: s.key)
def test_an_example_change_is_allowed_by_its_declaration(setting):
    found = setting_rules.Found({}, "dev", {})
    value = setting.example if setting.type == "string" else json.dumps(setting.example)
    found.raw = {f"aurora-platform:{setting.key}": value}
    read(found, setting)
    assert found.problems == []


@pytest.mark.parametrize("engine,version", [("aurora-postgresql", "16.6\n"), ("aurora-postgresql", "16.\u0666"),
                                            ("aurora-mysql", "8.0.mysql_aurora.3.08.2\n"),
                                            ("aurora-mysql", "8.0.mysql_aurora.3.\u0660\u0668.2")])
def test_engine_versions_are_ascii_and_whole(engine, version):
    assert engine in ENGINES and not engine_version_pattern(engine).match(version)
    with pytest.raises(SettingsError, match="engineVersion"):
        settings_of("dev", engine=engine, engineVersion=version, masterUsername="appadmin")


def test_production_rules_come_from_the_declarations():
    required = {s.key: s.production for s in SETTINGS if s.production is not None}
    assert required == {"protectResources": True, "deletionProtection": True, "skipFinalSnapshot": False,
                        "auditLogging": True, "backupPlan": True, "backupVaultLock": True}
    with pytest.raises(SettingsError) as caught:
        settings_of("prod", backupPlan="false", backupVaultLock="false")
    assert "aurora-platform:backupPlan = false: allowed in a production stack (production: true): true" in str(caught.value)


def test_a_settings_error_outside_the_program_is_a_plain_exception():
    """parse_settings raises SettingsError, which the runbooks catch without the Pulumi SDK; only the
    program's load_settings makes it Pulumi's RunError (test_nothing_is_declared_when_settings_are_invalid)."""
    with pytest.raises(SettingsError) as caught:
        settings_of("dev", readerCount="16")
    assert not isinstance(caught.value, pulumi.RunError)
    assert caught.value.problems == ["aurora-platform:readerCount = 16: allowed: 0 to 15"]
