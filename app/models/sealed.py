"""The encrypted columns, each with the associated data (table, column) that binds its ciphertexts.

This is the one place a sealed column's table and column are named: a ciphertext moved to another
row, column or table fails to decrypt.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.crypto import keyring


@dataclass(frozen=True)
class SealedColumn:
    table: str
    column: str

    def seal(self, row_id: str, plaintext: str) -> str:
        return keyring().encrypt(plaintext, table=self.table, column=self.column, row_id=row_id)

    def open(self, row_id: str, token: str) -> str:
        return keyring().decrypt(token, table=self.table, column=self.column, row_id=row_id)


CONNECTION_CREDENTIALS = SealedColumn("app_connection", "encrypted_credentials")
SECRET_VALUE = SealedColumn("secret", "encrypted_value")
ROTATION_KEY = SealedColumn("rotation_credential", "encrypted_key")
ROTATION_MESSAGE = SealedColumn("secret_rotation", "last_rotation_message")
WEBHOOK_URL = SealedColumn("webhook", "encrypted_url")
WEBHOOK_SECRET_KEY = SealedColumn("webhook", "encrypted_secret_key")
