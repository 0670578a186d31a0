"""A real single-node Apache Kafka broker for tests: KRaft combined mode, loopback ports, a temp dir.

Runs Apache Kafka's own jars (resolved into .jars/kafka-broker by `make setup-test`)
in a separate JVM. Two client listeners: PLAINTEXT (`bootstrap`) and
SASL_PLAINTEXT with the PLAIN mechanism (`sasl_bootstrap`, user `SASL_USER`,
password `sasl_password`), so the security settings isoguard passes through
are exercised against a broker that enforces them.
"""
from __future__ import annotations

import base64
import secrets
import socket
import subprocess
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from lakehouse import jars

SASL_USER = "isoguard"
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def plain_jaas(username: str, password: str) -> str:
    """A client's sasl.jaas.config for SASL/PLAIN."""
    return f'{PLAIN_LOGIN} required username="{username}" password="{password}";'


class KafkaBroker:
    """`KafkaBroker(workdir).start()` ... `stop()`; topics with `create_topic`."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.port, self.sasl_port, self.controller_port = free_ports(3)
        self.sasl_password = secrets.token_hex(12)
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"

    def _properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://{self.bootstrap},SASL_PLAINTEXT://{self.sasl_bootstrap},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.bootstrap},SASL_PLAINTEXT://{self.sasl_bootstrap}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config":
                f'{PLAIN_LOGIN} required user_{SASL_USER}="{self.sasl_password}";',
            "log.dirs": str(self.workdir / "data"),
            "auto.create.topics.enable": "false",
            "num.partitions": "2",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _java(self, main: str, *args: str) -> list[str]:
        classpath = ":".join(jars.jar_paths("kafka-broker"))
        return ["java", "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", classpath, main, *args]

    def start(self, timeout: float = 90) -> "KafkaBroker":
        self.workdir.mkdir(parents=True, exist_ok=True)
        properties = self.workdir / "server.properties"
        properties.write_text(self._properties())
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties)),
                       check=True, capture_output=True, text=True)
        log = open(self.workdir / "broker.log", "w")
        self.process = subprocess.Popen(self._java("kafka.Kafka", str(properties)), stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        while True:  # poll the port rather than a client: clients back off for many seconds between tries
            if self.process.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited: {self.log_tail()}")
            if time.time() > deadline:
                self.stop()
                raise RuntimeError(f"the Kafka broker did not come up in {timeout}s: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=30_000)
        admin.list_topics()
        admin.close()
        return self

    def log_tail(self, chars: int = 3000) -> str:
        path = self.workdir / "broker.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def create_topic(self, name: str, partitions: int = 2) -> str:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            admin.close()
        return name

    def produce(self, topic: str, values: list[bytes | None]) -> None:
        """Raw messages (None: a tombstone), acknowledged before this returns."""
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        for value in values:
            producer.send(topic, value=value, key=b"raw")
        producer.flush()
        producer.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
