"""The switch's TOML configuration, read once into typed, frozen objects.

`load_config(path)` reads and checks the file; every error is a `ConfigError` naming the file,
the dotted key and what is wrong (docs/switch.md, Configuration). The frozen objects are the
core's (`switch.core.catalog`), named here too so that other packages (settlement, the apps)
import one place. The reading is split by section:

| module | reads |
|---|---|
| `reader` | `Reader` (typed access to one table, unknown keys refused), `ConfigError` |
| `settings` | `[switch]`: listeners, database, HSM, business day, limits, TLS |
| `coalitions` | `[coalition.X]`: coalitions, tiers, card BINs |
| `stores` | `[store.X]`: stores, stamps, stored value |
| `programs` | earn rules, campaigns, multipliers, languages (coalitions and stores) |
| `fees` | `[coalition.X.operator]` and `[coalition.X.fee]`, IBANs |
| `terminals` | `[terminal.X]` |
| `loader` | the file, `Config`, and `[messaging]` (read by `switch.messaging.settings`) |
"""

from switch.config.fees import parse_iban
from switch.config.loader import Config, load_config, parse_config
from switch.config.reader import ConfigError
from switch.core import catalog
from switch.core.catalog import *  # noqa: F403  (the catalog's names, listed in its __all__)

__all__ = ["Config", "ConfigError", "load_config", "parse_config", "parse_iban"]
__all__ += catalog.__all__
