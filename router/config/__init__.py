"""Configuration: `router.yaml` settings and `rules.yaml` routing rules.

Both are read by a safe YAML reader that keeps positions (`yamlsafe`), validated once
into frozen typed objects, and every problem is reported as
`file:line:column: key.path: message` (`errors`).
"""

from router.config.check import CheckResult, check_path, run_check
from router.config.errors import ConfigError, ConfigIssue
from router.config.rules import Rules, load_rules
from router.config.settings import Settings, load_settings

__all__ = [
    "CheckResult",
    "ConfigError",
    "ConfigIssue",
    "Rules",
    "Settings",
    "check_path",
    "load_rules",
    "load_settings",
    "run_check",
]
