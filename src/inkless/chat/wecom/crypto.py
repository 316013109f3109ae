"""WeCom's callback encryption (企业微信 回调加解密): AES-256-CBC and a SHA-1 signature.

What WeCom posts to the callback URL is `base64(AES-256-CBC(random16 ‖ len32 ‖ message ‖
receive_id))`, padded PKCS#7 to 32-byte blocks, with the key `base64(EncodingAESKey + "=")`
and the first 16 bytes of the key as IV; `msg_signature` is the SHA-1 hex of the token,
timestamp, nonce and ciphertext, sorted and joined. `receive_id` is the corp id: a message
decrypting to another corp's id is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from inkless.config.sections import aes_key

BLOCK = 32
# A callback body is small (a card press, a text of at most 2048 bytes); anything far larger is not WeCom's.
MAX_ENCRYPTED = 64 * 1024


class CryptoError(ValueError):
    """The ciphertext is not one this application's key and corp id produced."""


class WecomCrypto:
    """Sign, verify, encrypt and decrypt as WeCom's callback scheme specifies."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self._token = token
        self._key = aes_key(encoding_aes_key)
        self._receive_id = receive_id.encode()

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return hashlib.sha1("".join(sorted((self._token, timestamp, nonce, encrypted))).encode()).hexdigest()

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> bool:
        return hmac.compare_digest(msg_signature.encode(), self.signature(timestamp, nonce, encrypted).encode())

    def encrypt(self, plaintext: bytes, *, random: bytes | None = None) -> str:
        body = (random or os.urandom(16)) + struct.pack(">I", len(plaintext)) + plaintext + self._receive_id
        pad = BLOCK - len(body) % BLOCK
        body += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        if len(encrypted) > MAX_ENCRYPTED:
            raise CryptoError("too long")
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("not base64") from None
        if not data or len(data) % 16:
            raise CryptoError("not whole AES blocks")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        body = decryptor.update(data) + decryptor.finalize()
        pad = body[-1]
        if not 1 <= pad <= BLOCK or body[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding")
        body = body[:-pad]
        if len(body) < 20:
            raise CryptoError("too short")
        (length,) = struct.unpack(">I", body[16:20])
        message, receive_id = body[20:20 + length], body[20 + length:]
        if len(message) != length or not hmac.compare_digest(receive_id, self._receive_id):
            raise CryptoError("not addressed to this corp")
        return message
