"""AES-256-CTR from OpenSSL (via `cryptography`), one continuous keystream per object.

Shaped like Telethon's `telethon.crypto.AESModeCTR` so it can stand in for it: Telethon's own
AES is pure Python and would make 256 KiB packets take seconds.
"""
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class AESCTR:
    def __init__(self, key: bytes, iv: bytes):
        if len(key) != 32 or len(iv) != 16:
            raise ValueError("AES-256-CTR needs a 32-byte key and a 16-byte IV")
        self._context = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()

    def encrypt(self, data: bytes) -> bytes:
        return self._context.update(bytes(data))

    decrypt = encrypt
