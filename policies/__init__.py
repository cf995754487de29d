"""The gosvc CrossGuard policy pack (`pulumi preview --policy-pack policies`); the rules live in `policies.rules`."""
