"""Log a paho MQTT client in as the settings say: user name, password and TLS."""

from __future__ import annotations

import paho.mqtt.client as mqtt

from canteen.settings import MqttSettings


def configure_credentials(client: mqtt.Client, settings: MqttSettings) -> None:
    """Apply login and TLS from the settings to a paho client before it connects."""
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        client.tls_set(ca_certs=settings.ca_file)
