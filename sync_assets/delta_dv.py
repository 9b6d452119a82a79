"""Deletion vectors of Delta tables, decoded from their descriptors (PROTOCOL.md, "Deletion
Vectors"): inline (`i`, Z85 text in the log), in a file named by a UUID relative to the table
(`u`) or at an absolute path (`p`). The bitmap is the 64-bit portable RoaringBitmap, read by
pyroaring after Delta's magic number; a stored DV's CRC-32 is checked."""

from __future__ import annotations

import struct
import uuid
import zlib

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
MAGIC = 1681511377


def z85_decode(text: str) -> bytes:
    out = bytearray()
    for i in range(0, len(text), 5):
        n = 0
        for c in text[i : i + 5]:
            n = n * 85 + Z85.index(c)
        out += n.to_bytes(4, "big")
    return bytes(out)


def dv_path(descriptor: dict) -> str:
    """Where a stored DV lives, relative to the table root (or absolute for `p`)."""
    if descriptor["storageType"] == "p":
        return descriptor["pathOrInlineDv"]
    text = descriptor["pathOrInlineDv"]
    prefix, encoded = text[:-20], text[-20:]
    name = f"deletion_vector_{uuid.UUID(bytes=z85_decode(encoded))}.bin"
    return f"{prefix}/{name}" if prefix else name


def dv_bytes(fs, descriptor: dict) -> bytes:
    size = descriptor["sizeInBytes"]
    if descriptor["storageType"] == "i":
        return z85_decode(descriptor["pathOrInlineDv"])[:size]
    path = dv_path(descriptor)
    with fs.open_input_file(path) as f:
        f.seek(descriptor.get("offset") or 0)
        stored = struct.unpack(">I", f.read(4))[0]
        blob, crc = f.read(size), struct.unpack(">I", f.read(4))[0]
    if stored != size or zlib.crc32(blob) != crc:
        raise ValueError(f"deletion vector in {path} is corrupt (size or CRC-32 mismatch)")
    return blob


def deleted_rows(fs, descriptor: dict) -> set[int]:
    """The row indexes the DV removes from its data file."""
    from pyroaring import BitMap64

    blob = dv_bytes(fs, descriptor)
    if struct.unpack("<I", blob[:4])[0] != MAGIC:
        raise ValueError("deletion vector has an unknown format (magic number)")
    rows = BitMap64.deserialize(blob[4:])
    if len(rows) != descriptor["cardinality"]:
        raise ValueError("deletion vector cardinality does not match its descriptor")
    return set(rows)
