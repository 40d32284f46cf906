"""The listening socket of the factory's servers (serve and the UI), bound before anything slow."""

from __future__ import annotations

import socket

from .cli import UserError


def listen_socket(host: str, port: int) -> socket.socket:
    """The bound socket, taken before the (slow) model load so that a busy port fails at once."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named explicitly: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
        # sockets that say they are TCP; with proto 0 every keep-alive answer waited ~40 ms for an ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port") from None
    return sock
