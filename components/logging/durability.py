"""Kafka's durability rules, written once for the component, the policy pack and the tests.

Each rule is a pure function of plain numbers or setting values that returns why a setting loses
or blocks acknowledged writes, or None when it is safe. The library's spec check
(`LoggingSpec.check`), the policy pack (which judges any program's server.properties and
topic-creation Jobs) and the tests call these, each wording its own message around the verdict.
Standard library only: the policy pack imports this module in its own virtualenv, without the
library's dependencies.
"""

from __future__ import annotations


def replication_problem(replication_factor: int, brokers: int) -> str | None:
    """Why `replication_factor` replicas cannot live on `brokers` brokers, or None: each replica needs its own broker."""
    if replication_factor > brokers:
        return f"replication factor {replication_factor} needs {replication_factor} brokers and there are {brokers}: each replica needs its own broker"
    return None


def min_insync_problem(min_insync_replicas: int, replication_factor: int) -> str | None:
    """Why min.insync.replicas leaves acks=all writes no broker to spare, or None.

    It must stay below the replication factor, so that writes go on with one broker down; the only
    exception is a replication factor of 1, where 1 is the only value.
    """
    if min_insync_replicas > replication_factor:
        return f"min.insync.replicas {min_insync_replicas} is above the replication factor {replication_factor}: no write could ever be acknowledged"
    if replication_factor > 1 and min_insync_replicas >= replication_factor:
        return (
            f"min.insync.replicas {min_insync_replicas} equals the replication factor {replication_factor}: "
            "one broker down would stop acks=all writes"
        )
    return None


def unclean_election_problem(setting: str) -> str | None:
    """Why an `unclean.leader.election.enable` value loses acknowledged events, or None when it is 'false'."""
    if setting.strip().lower() != "false":
        return f"unclean.leader.election.enable {setting!r} elects an out-of-sync replica, losing acknowledged events"
    return None
