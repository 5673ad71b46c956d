"""docs/configuration.md and .env.example are generated from Settings and never drift from it.

The files on disk are compared with what ``tools.settings_docs`` makes of ``settings.Settings`` today; a setting added,
removed or re-described without ``make docs`` fails here. ``.env.example`` is read back the way ChatLens reads a
``.env``: as it is, it sets nothing; with its default lines uncommented, it still changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic import Field

from settings import Settings
from tests.support.config import settings_without_env_file
from tools import settings_docs
from tools.settings_docs import ENV_EXAMPLE, default_value, env_name, is_secret


def env_lines() -> list[str]:
    return ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting from the developer's environment or .env: only what the test writes counts."""
    for name in Settings.model_fields:
        monkeypatch.delenv(env_name(name), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_committed_reference_is_what_settings_generates() -> None:
    out_of_date = settings_docs.stale(settings_docs.generated())
    assert not out_of_date, (
        f"out of date, run `make docs`: {[str(p.relative_to(settings_docs.ROOT)) for p in out_of_date]}"
    )


def test_check_fails_on_a_drifted_file_and_passes_once_regenerated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(settings_docs, "ROOT", tmp_path)
    monkeypatch.setattr(settings_docs, "CONFIGURATION_MD", tmp_path / "configuration.md")
    monkeypatch.setattr(settings_docs, "ENV_EXAMPLE", tmp_path / ".env.example")
    assert settings_docs.main(["--check"]) == 1  # missing files are out of date
    assert settings_docs.main([]) == 0
    assert settings_docs.main(["--check"]) == 0
    page = tmp_path / "configuration.md"
    page.write_text(page.read_text().replace("Longest message a user may send.", "Longest message."))
    assert settings_docs.main(["--check"]) == 1
    assert "configuration.md is out of date" in capsys.readouterr().err


def test_a_new_setting_fails_until_it_is_grouped_and_the_files_regenerated(monkeypatch: pytest.MonkeyPatch) -> None:
    class Grown(Settings):
        reply_warmup_s: float = Field(default=1.5, gt=0, description="A setting added after the files were made.")

    with pytest.raises(ValueError, match="reply_warmup_s"):
        settings_docs.configuration_md(Grown)
    last = settings_docs.GROUPS[-1]
    grouped = settings_docs.Group(last.title, last.intro, (*last.fields, "reply_warmup_s"))
    monkeypatch.setattr(settings_docs, "GROUPS", (*settings_docs.GROUPS[:-1], grouped))
    files = settings_docs.generated(Grown)
    assert set(settings_docs.stale(files)) == {settings_docs.CONFIGURATION_MD, ENV_EXAMPLE}
    assert (
        "| `REPLY_WARMUP_S` | number, > 0 | `1.5` | A setting added after the files were made. |"
        in files[settings_docs.CONFIGURATION_MD]
    )
    assert "# REPLY_WARMUP_S=1.5" in files[ENV_EXAMPLE].splitlines()


def test_every_setting_is_in_env_example_and_every_line_is_a_comment() -> None:
    lines = env_lines()
    assert all(not line.strip() or line.startswith("#") for line in lines)
    assert dotenv_values(ENV_EXAMPLE) == {}
    named = {line[2:].split("=", 1)[0] for line in lines if line.startswith("# ") and "=" in line.split(" ", 2)[1]}
    assert {env_name(name) for name in Settings.model_fields} <= named


def test_copying_env_example_to_env_changes_nothing(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text(ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert Settings().model_dump() == settings_without_env_file().model_dump()


def test_the_defaults_shown_are_the_defaults(clean_environment: Path) -> None:
    """Uncomment every line that shows a default: the settings read back are exactly the defaults."""
    defaults = {
        name: f"# {env_name(name)}={value}"
        for name, field in Settings.model_fields.items()
        if (value := default_value(field)) and not is_secret(name, field)
    }
    shown = [line for line in env_lines() if line in defaults.values()]
    assert len(shown) == len(defaults) > 30
    (clean_environment / ".env").write_text("\n".join(line[2:] for line in shown) + "\n")
    read_back = Settings()
    assert read_back.model_fields_set >= set(defaults)  # read from the file, not fallen back to
    assert read_back.model_dump() == settings_without_env_file().model_dump()


def test_secrets_show_no_default() -> None:
    secrets = {name: field for name, field in Settings.model_fields.items() if is_secret(name, field)}
    assert {"tgi_api_key", "session_secret", "oauth_client_secret", "browser_state_secret"} <= set(secrets)
    lines = env_lines()
    for name in secrets:
        assert f"# {env_name(name)}=" in lines
    builtin = str(Settings.model_fields["browser_state_secret"].default)
    assert builtin not in ENV_EXAMPLE.read_text()
    assert builtin not in settings_docs.CONFIGURATION_MD.read_text()
