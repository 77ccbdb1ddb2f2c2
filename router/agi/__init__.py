"""AGI mode: the router decides over FastAGI while the PBX keeps its calls (docs/agi-mode.md)."""
