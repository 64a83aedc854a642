"""Settings from the environment or a ``.env`` file (pydantic-settings).

Every setting is listed in the README. Paths are resolved against the current directory,
so the README's commands, run from the checkout, find ``./data``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="where the SQLite file and reports live"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite file in DATA_DIR"
    )
    bot_token: SecretStr | None = Field(default=None, description="Telegram bot token")
    bot_username: str | None = Field(
        default=None, description="the bot's @username, for the links `factory link` prints"
    )
    telegram_api_base: str | None = Field(
        default=None,
        description="another Bot API server, e.g. http://127.0.0.1:8081 (self-hosted or a test "
        "double); default: api.telegram.org",
    )
    default_locale: str = Field(
        default="zh_CN", description="language for users whose Telegram language we lack"
    )
    support_contact: str | None = Field(
        default=None, description="how buyers reach a person (shown when they ask for one)"
    )
    order_expiry_hours: int = Field(
        default=48, ge=1, description="an order not accepted by then expires and frees its stock"
    )
    auto_deliver_days: int = Field(
        default=10, ge=1, description="a shipped order counts as delivered after this many days"
    )
    staff_chat_id: int | None = Field(
        default=None, description="the staff's Telegram supergroup with topics (one per buyer)"
    )
    staff_user_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Telegram user ids of support staff, comma-separated"
    )
    staff_sla_minutes: int = Field(
        default=10, ge=1, description="a buyer waiting this long for a person is told so"
    )
    staff_group_per_minute: int = Field(
        default=20, ge=1, description="messages a minute the bot sends to the staff group"
    )
    flood_retries: int = Field(
        default=3, description="times an outgoing call is retried after Telegram's flood control"
    )

    @field_validator("staff_user_ids", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @property
    def lexicon_path(self) -> Path:
        """The catalog's part of the query lexicon, rebuilt after each import."""
        return self.data_dir / "lexicon" / "catalog.json"

    @cached_property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'sourcing.db').resolve()}"


def load_settings() -> Settings:
    return Settings()
