"""One Pulumi component per concept: zone network, node image, node, and the data centre."""
