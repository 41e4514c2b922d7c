"""Devices: kiosk provisioning, tokens, revocation, commands, and the device side of the protocol."""
