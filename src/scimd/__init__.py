"""scimd: a SCIM provisioning server that behaves like Slack's SCIM API."""

__version__ = "0.1.0"
