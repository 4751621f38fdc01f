"""The README documents every setting: an operator should never have to read settings.py."""

from __future__ import annotations

from pathlib import Path

from api.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def env_names() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.append(str(choices[0]) if choices else f"AUDITTRAIL_{name.upper()}")
    return names


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [name for name in env_names() if f"| `{name}`" not in README]
    assert missing == []


def test_readme_opens_with_the_two_commands() -> None:
    opening = README.split("```", 2)[1]
    assert "make run" in opening and "make test" in opening
