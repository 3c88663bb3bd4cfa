"""The command line's options that come from the environment come from ``.env`` too.

Every service reads its settings from the environment and from ``.env`` in the directory it
starts in (``Settings.model_config``): a user who put ``ADMIN_API_KEY`` there for ``make run``
has it in the services, and in the commands that read the settings (``keys``,
``create-business``, ``simulate-call``'s Twilio token). The options click reads from the
environment itself (``--admin-key`` from ``ADMIN_API_KEY``, ``--api-url`` from
``API_BASE_URL``...) did not see the file, so ``switchboard events list`` in that directory
asked for ``--admin-key`` though ``make run`` served the key from ``.env``. Now the same file,
read the same way (pydantic-settings' own reader, with the settings' file name and encoding,
names in any case), gives those options their value; a variable of the environment still wins.
"""

from __future__ import annotations

import os

#: The environment variables the CLI's options read (``envvar=``), each also read from ``.env``
#: (a test keeps this list and the options equal).
OPTION_VARIABLES = ("API_BASE_URL", "PUBLIC_BASE_URL", "SWITCHBOARD_API_KEY", "ADMIN_API_KEY")


def read_dotenv_options() -> dict[str, str]:
    """The values ``.env`` (in the current directory) gives the options' variables that the
    environment does not set, now in the environment too; what was added. An
    ``EnvFileError`` if the file is not UTF-8."""
    from pydantic_settings.sources import DotEnvSettingsSource

    from switchboard.common.settings import Settings, env_file_not_utf8

    try:
        in_file = DotEnvSettingsSource(Settings).env_vars  # keys lower-cased: any case counts
    except UnicodeDecodeError:
        raise env_file_not_utf8() from None
    except (OSError, ValueError):  # unreadable: the settings say so when read
        return {}
    added = {
        name: value
        for name in OPTION_VARIABLES
        if name not in os.environ and (value := in_file.get(name.lower())) is not None
    }
    os.environ.update(added)
    return added
