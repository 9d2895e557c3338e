"""Broker access for a hub: private CA, server certificate, per-device logins and ACLs.

`canteen broker init` sets a hub's broker up once; `canteen device add|rotate|revoke|list`
manage the kitchen devices' logins afterwards. Everything secret lives in a state folder
outside the repository (default /etc/canteen/broker), every file mode 0600.
"""

from canteen.settings import SettingsError


class ProvisionError(SettingsError):
    """Provisioning could not be done; the message names the cause and the fix."""
