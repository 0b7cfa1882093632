"""The tinyodl link: framed, checked, stop-and-wait messages between host and firmware."""

from .cobs import decode as cobs_decode
from .cobs import encode as cobs_encode
from .endpoint import Link, LinkError, Transport
from .frame import (
    LINK_MAX_PAYLOAD,
    TYPE_ACK,
    TYPE_DATA_MAX,
    TYPE_DATA_MIN,
    Frame,
    FrameDecoder,
    decode_body,
    encode_frame,
)
from .transport import (
    FAULT_KINDS,
    FaultRates,
    FaultyTransport,
    MemoryTransport,
    PipeTransport,
    SerialTransport,
    memory_pair,
)

__all__ = [
    "FAULT_KINDS",
    "LINK_MAX_PAYLOAD",
    "TYPE_ACK",
    "TYPE_DATA_MAX",
    "TYPE_DATA_MIN",
    "FaultRates",
    "FaultyTransport",
    "Frame",
    "FrameDecoder",
    "Link",
    "LinkError",
    "MemoryTransport",
    "PipeTransport",
    "SerialTransport",
    "Transport",
    "cobs_decode",
    "cobs_encode",
    "decode_body",
    "encode_frame",
    "memory_pair",
]
