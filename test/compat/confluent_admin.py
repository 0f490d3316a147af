"""confluent-kafka-python's AdminClient on the admin APIs it has (issue 16 section 3): alter_configs
and create_partitions (the Debian package, 1.7, predates incremental_alter_configs, describe_cluster
and delete_records). One JSON line per step.

Usage: confluent_admin.py BOOTSTRAP TOPIC BROKER_ID
The topic must exist with 1 partition.
"""
import json
import sys

from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions


def out(obj):
    print(json.dumps(obj), flush=True)


def topic_configs(admin, topic):
    described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
    return list(described.values())[0].result()


def main(bootstrap, topic, broker_id):
    admin = AdminClient({"bootstrap.servers": bootstrap})

    # AlterConfigs replaces the topic's own configs with those given.
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    resource.set_config("retention.ms", "3600000")
    resource.set_config("max.message.bytes", "65536")
    for fut in admin.alter_configs([resource]).values():
        fut.result()
    configs = topic_configs(admin, topic)
    out({"event": "configs", "retention.ms": configs["retention.ms"].value,
         "max.message.bytes": configs["max.message.bytes"].value})

    bad = ConfigResource(ConfigResource.Type.TOPIC, topic)
    bad.set_config("retention.ms", "soon")
    broker = ConfigResource(ConfigResource.Type.BROKER, broker_id)
    broker.set_config("log.retention.ms", "1")
    for name, res in (("bad-value", bad), ("broker", broker)):
        try:
            list(admin.alter_configs([res]).values())[0].result()
            out({"event": "refused", "what": name, "refused": False})
        except Exception as e:  # noqa: BLE001 - the refusal is what is checked
            out({"event": "refused", "what": name, "refused": True, "error": str(e)})

    for fut in admin.create_partitions([NewPartitions(topic, 3)]).values():
        fut.result()
    try:
        list(admin.create_partitions([NewPartitions(topic, 2)]).values())[0].result()
        out({"event": "shrink", "refused": False})
    except Exception as e:  # noqa: BLE001
        out({"event": "shrink", "refused": True, "error": str(e)})
    md = admin.list_topics(topic, timeout=10)
    out({"event": "partitions", "count": len(md.topics[topic].partitions)})


if __name__ == "__main__":
    main(*sys.argv[1:])
