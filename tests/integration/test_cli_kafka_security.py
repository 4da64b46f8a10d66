"""Every command-line Kafka client takes the deployment's SASL settings, not the bootstrap address
alone: pointed with SASL at the local plaintext broker, each one is refused by the broker's SASL
check (a client that ignored the settings would connect and go on)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "nyc311_2024-04-16_api.csv"
COMMANDS = {
    "dept watch": ["dept", "watch", "110111008", "--once", "--timeout-s", "5"],
    "import": ["import", str(SAMPLE), "--mapping", "nyc311-api", "--limit", "5"],
    "publish": ["publish", "-"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_line_kafka_client_uses_the_sasl_settings(command, namespace):
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": namespace.kafka, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
           "KAFKA_SASL_USERNAME": "dept", "KAFKA_SASL_PASSWORD": "not-used-by-a-plaintext-broker",
           "HOTLINE_TOPIC_PREFIX": namespace.prefix}
    result = subprocess.run([str(Path(sys.executable).parent / "hotline"), *COMMANDS[command]], env=env, cwd=ROOT,
                            input='{"source_id": "x"}\n', capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode != 0, result.stdout
    assert "IllegalSaslState" in result.stderr, result.stderr[-2000:]
