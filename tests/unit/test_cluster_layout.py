"""The local cluster's layout: node addresses, the bootstrap list and contact points, the derived
replication, and what `infra up` refuses to change."""

from __future__ import annotations

import json

import pytest

from exchange.config import ConfigError, Settings, node_host, write_layout
from exchange.kafka_io import FAUST_TOPIC_PREFIX, Replication, TopicError, derive_replication, is_exchange_topic
from infra.local import runner
from infra.local.cassandra import CassandraNode, token
from infra.local.kafka import KafkaNode, server_properties


def settings_for(tmp_path, **env) -> Settings:
    return Settings.from_env({"HOME": str(tmp_path), "EXCHANGE_STATE_DIR": str(tmp_path / "state"), **env})


def test_nodes_count_up_from_the_first_address_with_the_same_ports():
    assert [node_host("127.0.0.1", i) for i in range(3)] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert node_host("kafka", 0) == "kafka"  # one node: any host name
    with pytest.raises(ConfigError):
        node_host("kafka", 1)
    with pytest.raises(ConfigError):
        node_host("127.0.0.254", 2)


def test_one_node_by_default(tmp_path):
    settings = settings_for(tmp_path)
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.cassandra_hosts == ["127.0.0.1"]
    assert settings.cassandra_replication == "SimpleStrategy:1"
    assert (settings.cassandra_consistency, settings.cassandra_serial_consistency) == ("QUORUM", "SERIAL")


def test_the_remembered_layout_gives_every_command_the_whole_cluster(tmp_path):
    write_layout(tmp_path / "state", {"kafka_brokers": 3, "kafka_controllers": 3, "cassandra_nodes": 3})
    settings = settings_for(tmp_path)
    assert settings.kafka_bootstrap == "127.0.0.1:9092,127.0.0.2:9092,127.0.0.3:9092"
    assert settings.cassandra_hosts == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert settings.cassandra_replication == "SimpleStrategy:3"
    # A child process given these settings (another state directory, as tests' workers) finds it too.
    child = Settings.from_env(settings.to_env() | {"EXCHANGE_STATE_DIR": str(tmp_path / "other")})
    assert child.kafka_bootstrap == settings.kafka_bootstrap and child.cassandra_hosts == settings.cassandra_hosts


def test_explicit_production_settings_win(tmp_path):
    write_layout(tmp_path / "state", {"kafka_brokers": 3, "cassandra_nodes": 3})
    settings = settings_for(tmp_path, KAFKA_BOOTSTRAP="k1:9092,k2:9092", CASSANDRA_HOST="c1, c2,c3",
                            CASSANDRA_REPLICATION="NetworkTopologyStrategy:dc1=3")
    assert settings.kafka_bootstrap == "k1:9092,k2:9092"
    assert settings.cassandra_hosts == ["c1", "c2", "c3"]
    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize("name, value", [
    ("KAFKA_REPLICATION_FACTOR", "three"), ("KAFKA_BROKERS", "0"), ("CASSANDRA_CONSISTENCY", "MOST"),
    ("CASSANDRA_SERIAL_CONSISTENCY", "QUORUM"),
])
def test_a_bad_cluster_value_names_its_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        settings_for(tmp_path, **{name: value})


def test_replication_derives_from_the_brokers():
    assert derive_replication(1) == Replication(1, 1)
    assert derive_replication(2) == Replication(2, 1)
    assert derive_replication(3) == Replication(3, 2)
    assert derive_replication(5) == Replication(3, 2)
    assert derive_replication(5, factor=5) == Replication(5, 2)
    assert derive_replication(3, factor=2, min_insync=2) == Replication(2, 2)
    with pytest.raises(TopicError):
        derive_replication(1, factor=3)
    with pytest.raises(TopicError):
        derive_replication(3, factor=2, min_insync=3)


def test_three_nodes_get_their_own_addresses_directories_and_cluster_settings(tmp_path):
    write_layout(tmp_path / "state", {"kafka_brokers": 3, "kafka_controllers": 3, "cassandra_nodes": 3,
                                      "kafka_cluster_id": "abc"})
    settings = settings_for(tmp_path)
    nodes = runner.nodes(settings)
    assert [n.name for n in nodes] == ["kafka-1", "kafka-2", "kafka-3", "cassandra-1", "cassandra-2", "cassandra-3"]
    assert [n.home.name for n in nodes] == ["kafka", "kafka-2", "kafka-3", "cassandra", "cassandra-2", "cassandra-3"]
    assert [n.address for n in nodes[:3]] == ["127.0.0.1:9092", "127.0.0.2:9092", "127.0.0.3:9092"]
    third = nodes[5]
    assert isinstance(third, CassandraNode)
    assert third.ports == [("127.0.0.3", 9042), ("127.0.0.3", 7000), ("127.0.0.1", 7201)]  # JMX binds 127.0.0.1
    props = dict(line.split("=", 1) for line in server_properties(settings, tmp_path, 1, 3).splitlines())
    assert props["node.id"] == "2" and props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093,2@127.0.0.2:9093,3@127.0.0.3:9093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.2:9092,CONTROLLER://127.0.0.2:9093"
    assert (props["default.replication.factor"], props["min.insync.replicas"]) == ("3", "2")
    assert props["unclean.leader.election.enable"] == "false"
    assert int(props["broker.session.timeout.ms"]) <= 5000
    assert len({token(i, 3) for i in range(3)}) == 3 and token(0, 3) == 0


def test_a_grown_cluster_keeps_its_one_controller(tmp_path):
    settings = settings_for(tmp_path, KAFKA_BROKERS="3")
    props = dict(line.split("=", 1) for line in server_properties(settings, tmp_path, 2, 1).splitlines())
    assert props["process.roles"] == "broker"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert "CONTROLLER" not in props["listeners"]


def test_one_broker_keeps_its_single_node_settings(tmp_path):
    props = server_properties(settings_for(tmp_path), tmp_path)
    assert "offsets.topic.replication.factor=1" in props and "min.insync.replicas" not in props
    assert KafkaNode(settings_for(tmp_path)).name == "kafka"


def test_up_plans_the_layout_and_refuses_to_shrink_or_resize_the_ring(tmp_path):
    settings = settings_for(tmp_path)
    fresh = runner.plan(settings, brokers=3, cassandra_nodes=3)
    assert (fresh["kafka_brokers"], fresh["kafka_controllers"], fresh["cassandra_nodes"]) == (3, 3, 3)
    assert runner.plan(settings)["kafka_brokers"] == 1  # nothing remembered, no flags: make run's default

    write_layout(settings.state_dir, {"kafka_brokers": 3, "kafka_controllers": 3, "cassandra_nodes": 3})
    remembered = settings_for(tmp_path)
    assert runner.plan(remembered)["kafka_brokers"] == 3  # no flags: the remembered layout
    with pytest.raises(runner.LayoutError, match="cannot change to 1"):
        runner.plan(remembered, brokers=1)
    with pytest.raises(runner.LayoutError, match="Cassandra"):
        runner.plan(remembered, cassandra_nodes=1)


def test_a_single_broker_install_grows_with_broker_only_nodes(tmp_path):
    settings = settings_for(tmp_path)
    (settings.state_dir / "kafka" / "data").mkdir(parents=True)  # an install from before layouts
    (settings.state_dir / "kafka" / "data" / "meta.properties").write_text("cluster.id=old-id\nnode.id=1\n")
    grown = runner.plan(settings, brokers=3)
    assert (grown["kafka_brokers"], grown["kafka_controllers"], grown["kafka_cluster_id"]) == (3, 1, "old-id")
    with pytest.raises(runner.LayoutError):
        runner.plan(settings, cassandra_nodes=3)
    (settings.state_dir / "cluster.json").write_text(json.dumps(grown))
    assert [n.name for n in runner.nodes(settings_for(tmp_path))][:3] == ["kafka-1", "kafka-2", "kafka-3"]


def test_topics_of_the_exchange_are_recognised():
    from streams.read_worker import READ_APP_ID
    from streams.worker import APP_ID

    assert f"{APP_ID}-".startswith(FAUST_TOPIC_PREFIX) and f"{READ_APP_ID}-".startswith(FAUST_TOPIC_PREFIX)
    assert is_exchange_topic("exchange.orders") and is_exchange_topic("exchange-read-minute-bars-changelog")
    assert is_exchange_topic("__consumer_offsets") and not is_exchange_topic("someone-elses")
