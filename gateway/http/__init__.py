"""The HTTP face of the gateway: thin handlers over the core, one module per resource."""
