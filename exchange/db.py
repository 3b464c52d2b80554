"""Opening a Cassandra cluster connection the same way in every process."""

from __future__ import annotations

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from exchange.config import Settings


def cluster(settings: Settings, timeout: float = 10.0) -> Cluster:
    # Token awareness sends each query straight to a replica of its partition.
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()), request_timeout=timeout
    )
    return Cluster(
        [settings.cassandra_host], port=settings.cassandra_port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=timeout, control_connection_timeout=timeout,
    )
