#!/usr/bin/env python3
"""Independent AES-256-XTS reference for one data unit, for the CLI tests.

usage: xts_ref.py KEY_HEX SECTOR < plaintext_unit > ciphertext_unit

`openssl enc` refuses XTS, so this builds XTS (IEEE 1619) out of AES-256-ECB
from the openssl command and the GF(2^128) tweak doubling written here: it
shares no code with libvxts. The tweak is dm-crypt's plain64: the 64-bit
sector number, little-endian, zero-padded to 16 bytes.
"""
import subprocess
import sys


def ecb(key: bytes, data: bytes) -> bytes:
    out = subprocess.run(
        ["openssl", "enc", "-aes-256-ecb", "-nopad", "-K", key.hex()],
        input=data, stdout=subprocess.PIPE, check=True).stdout
    assert len(out) == len(data)
    return out


def double(t: int) -> int:
    # multiply by alpha in GF(2^128), little-endian byte order (IEEE 1619)
    carry = t >> 127
    t = (t << 1) & ((1 << 128) - 1)
    return t ^ 0x87 if carry else t


def main():
    key = bytes.fromhex(sys.argv[1])
    sector = int(sys.argv[2])
    assert len(key) == 64
    plain = sys.stdin.buffer.read()
    assert len(plain) % 16 == 0 and plain
    t = int.from_bytes(ecb(key[32:], sector.to_bytes(16, "little")), "little")
    tweaks = []
    for _ in range(len(plain) // 16):
        tweaks.append(t.to_bytes(16, "little"))
        t = double(t)
    xored = bytes(p ^ k for p, k in zip(plain, b"".join(tweaks)))
    enc = ecb(key[:32], xored)
    sys.stdout.buffer.write(bytes(c ^ k for c, k in zip(enc, b"".join(tweaks))))


main()
