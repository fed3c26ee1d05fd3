"""The HTTP and WebSocket transport: thin handlers over the domain modules."""
