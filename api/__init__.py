"""The REST API: a Starlette service that talks to Kafka (aiokafka) and Cassandra, never to Faust."""
