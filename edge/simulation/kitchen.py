"""The simulated kitchen: each site's devices as real agents, on one simulated clock.

Every simulated device is a real `Agent` with its own outbox file and MQTT client,
built from an `EdgeConfig` through the same `run_device` as a Pi, so the demo
exercises the production code path end to end; only the sensors are simulated.
"""

from __future__ import annotations

import logging
import string
import threading
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from canteen.settings import MqttSettings
from edge.app import run_device
from edge.build import BuildContext
from edge.config import EdgeConfig
from edge.simulation.clock import SimClock, default_start

logger = logging.getLogger(__name__)

DEVICES: dict[str, list[dict[str, Any]]] = {
    "cold-room": [
        {"type": "simulated-cold-unit", "name": "fridge-1", "unit": "fridge"},
        {"type": "simulated-cold-unit", "name": "fridge-2", "unit": "fridge"},
        {"type": "simulated-cold-unit", "name": "freezer-1", "unit": "freezer"},
    ],
    "waste-station": [
        {"type": "simulated-waste-bin", "name": "bin-plate", "category": "plate"},
        {"type": "simulated-waste-bin", "name": "bin-prep", "category": "prep"},
    ],
    "entrance": [{"type": "simulated-dining-room", "name": "dining-main"}],
}
"""Each site's simulated devices and their sensors, as a device YAML would list them."""


def sites_for(count: int) -> list[str]:
    """Name `count` sites: site-a, site-b, ... (site-27 onwards past the alphabet)."""
    letters = string.ascii_lowercase
    return [f"site-{letters[i] if i < len(letters) else i + 1}" for i in range(count)]


def _sensors(interval_s: float | None) -> dict[str, list[dict[str, Any]]]:
    if interval_s is None:
        return DEVICES
    return {
        device: [{**sensor, "interval_s": interval_s} for sensor in sensors]
        for device, sensors in DEVICES.items()
    }


def device_configs(
    site: str, mqtt: MqttSettings, state_dir: Path, interval_s: float | None = None
) -> list[EdgeConfig]:
    """The configs of one simulated site's devices, each with its own state directory.

    `interval_s`, when given, replaces every sensor's own interval (the demo uses a few
    seconds so the wall screen visibly moves).
    """
    return [
        EdgeConfig.model_validate(
            {
                "site": site,
                "device": device,
                "mqtt_url": mqtt.url(),
                "topic_root": mqtt.root,
                "state_dir": state_dir / site / device,
                "sensors": sensors,
            }
        )
        for device, sensors in _sensors(interval_s).items()
    ]


def _run_quietly(
    config: EdgeConfig, mqtt: MqttSettings, context: BuildContext, stop: threading.Event
) -> None:
    try:
        run_device(config, mqtt, context, stop)
    except Exception:  # a thread's top level: one device failing must not stop the others
        logger.exception("simulated device %s/%s stopped", config.site, config.device)


def run_simulation(
    mqtt: MqttSettings,
    sites: list[str],
    state_dir: Path,
    stop: threading.Event,
    speed: float = 1.0,
    start: datetime | None = None,
    seed: int = 1,
    tz: tzinfo | None = None,
    interval_s: float | None = None,
) -> None:
    """Run every simulated device of `sites` until `stop` is set.

    With `speed` above 1 the kitchen's clock starts 24 hours ago (unless `start` is
    given) and replays the day `speed` times faster, then follows real time. `tz`
    is the kitchen's time zone for meal hours (default: the system's); `interval_s`
    overrides every sensor's interval.
    """
    clock = SimClock(start or default_start(speed), speed)
    threads = []
    for site in sites:
        for config in device_configs(site, mqtt, state_dir, interval_s):
            context = BuildContext(
                site=site, device=config.device, clock=clock.now, seed=seed, speed=speed, tz=tz
            )
            thread = threading.Thread(
                target=_run_quietly,
                args=(config, mqtt, context, stop),
                name=f"sim-{site}-{config.device}",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
    logger.info("simulating %d devices at %sx from %s", len(threads), speed, clock.start)
    stop.wait()
    for thread in threads:
        thread.join(timeout=30)
