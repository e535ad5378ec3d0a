"""Secrets come only from the environment or files and never show up in errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from collectors.settings import Secret, StrictModel

TOKEN = "ghp_SuperSecretTokenValue1234567890"


class Model(StrictModel):
    token: Secret


def test_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    model = Model.model_validate({"token": {"env": "MY_TOKEN"}})
    assert model.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(model) and TOKEN not in str(model.model_dump())


def test_secret_from_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    model = Model.model_validate({"token": {"file": "token"}}, context={"base_dir": tmp_path})
    assert model.token.get_secret_value() == TOKEN


def test_inline_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as info:
        Model.model_validate({"token": TOKEN})
    assert "not accepted inline" in str(info.value)
    assert TOKEN not in str(info.value)


def test_missing_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="NOPE_TOKEN is not set"):
        Model.model_validate({"token": {"env": "NOPE_TOKEN"}})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read secret file"):
        Model.model_validate({"token": {"file": str(tmp_path / "none")}})
