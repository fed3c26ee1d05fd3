"""The socket protocol without sockets: frame parsing and the hub that fans frames out."""
