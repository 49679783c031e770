"""Fleet telemetry: gateways publish device records to an MQTT broker, ingest workers store them in PostgreSQL.

paho-mqtt and psycopg (the optional ``tinydrift[fleet]`` extra) are imported by the modules that
talk to a broker or a database, when they are used, so ``import tinydrift`` needs neither.
docs/fleet.md describes topics, payloads, the schema and the delivery guarantees.
"""
